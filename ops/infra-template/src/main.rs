//! Writes (or checks) infra/template.json and infra/edge-template.json.

use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
infra-template: generate the CloudFormation template of the whole suite

Usage: cargo run -p infra-template -- [--check] [--out PATH]

Renders infra/template.json from infra/tiers.json, infra/policies/ (IAM documents and Cedar
policies) and infra/gateway/tool-target-schema.json, and infra/edge-template.json (the
CloudFront-scope web ACL, deployed in us-east-1). Run it after changing any of them.

  --check     do not write; exit 1 if PATH differs from a fresh rendering
  --out PATH  the template file (default: infra/template.json under the workspace root); the
              edge template goes next to it, as edge-template.json
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
    let rendered = infra_template::Inputs::shipped()
        .and_then(|i| infra_template::render_text(&i))
        .and_then(|main| Ok((main, infra_template::render_edge_text()?)));
    let (main_text, edge_text) = match rendered {
        Ok(texts) => texts,
        Err(e) => {
            eprintln!("infra-template: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The edge template sits next to the main one.
    let edge = out.with_file_name("edge-template.json");
    let files = [(&out, main_text), (&edge, edge_text)];
    let mut status = ExitCode::SUCCESS;
    for (path, text) in files {
        if !write_or_check(path, &text, check) {
            status = ExitCode::FAILURE;
        }
    }
    status
}

/// Writes `text` to `path`, or with `check` compares them; says what it did.
fn write_or_check(path: &std::path::Path, text: &str, check: bool) -> bool {
    if check {
        return match std::fs::read_to_string(path) {
            Ok(current) if current == text => {
                println!("{} is up to date", path.display());
                true
            }
            Ok(_) => {
                eprintln!(
                    "{} is out of date: run `cargo run -p infra-template`",
                    path.display()
                );
                false
            }
            Err(e) => {
                eprintln!("cannot read {}: {e}", path.display());
                false
            }
        };
    }
    match std::fs::write(path, text) {
        Ok(()) => {
            println!("wrote {}", path.display());
            true
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", path.display());
            false
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("infra-template: {problem}\n\n{HELP}");
    ExitCode::from(2)
}
