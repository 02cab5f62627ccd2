//! Writes (or checks) infra/template.json.

use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
infra-template: generate the CloudFormation template of the whole suite

Usage: cargo run -p infra-template -- [--check] [--out PATH]

Renders infra/template.json from infra/tiers.json, infra/policies/ (IAM documents and Cedar
policies) and infra/gateway/tool-target-schema.json. Run it after changing any of them.

  --check     do not write; exit 1 if PATH differs from a fresh rendering
  --out PATH  the template file (default: infra/template.json under the workspace root)
  -h, --help  this text";

fn main() -> ExitCode {
    let mut check = false;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = root
        .canonicalize()
        .unwrap_or(root)
        .join(infra_template::TEMPLATE_PATH);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--out" => match args.next() {
                Some(path) => out = PathBuf::from(path),
                None => return usage("--out needs a path"),
            },
            "-h" | "--help" => {
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let text = match infra_template::Inputs::shipped().and_then(|i| infra_template::render_text(&i))
    {
        Ok(text) => text,
        Err(e) => {
            eprintln!("infra-template: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check {
        return match std::fs::read_to_string(&out) {
            Ok(current) if current == text => {
                println!("{} is up to date", out.display());
                ExitCode::SUCCESS
            }
            Ok(_) => {
                eprintln!(
                    "{} is out of date: run `cargo run -p infra-template`",
                    out.display()
                );
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("cannot read {}: {e}", out.display());
                ExitCode::FAILURE
            }
        };
    }
    match std::fs::write(&out, text) {
        Ok(()) => {
            println!("wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("infra-template: {problem}\n\n{HELP}");
    ExitCode::from(2)
}
