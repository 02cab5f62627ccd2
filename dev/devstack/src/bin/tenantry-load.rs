//! `tenantry-load`: every demo clinic with several users at once through the local stack for
//! a bounded time, then canaries searched in every response and log (see `devstack::load`).
//! Run by scripts/load.sh, which writes docs/reliability.md.

use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use devstack::{DevStack, Options, load};

/// The instant the functions' clock shows during the run: 10:00 in New York, 15:00 in London,
/// 16:00 in Zurich (basic clinics open) and 02:00 in Sydney (closed, refused by policy).
const RUN_INSTANT: &str = "2026-12-01T15:00:00Z";

/// Load and canary check through the whole local stack (start the stand-ins first:
/// scripts/standins.sh start; scripts/load.sh does everything).
#[derive(Debug, Parser)]
#[command(name = "tenantry-load")]
struct Args {
    /// How long the users keep asking.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The clinic that sends past its usage plan (the only one that may see 429s).
    #[arg(long, default_value = "clinic-b")]
    noisy: String,
    /// Write the results as Markdown here (docs/reliability.md).
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let workspace = std::env::current_dir().context("current directory")?;
    let options = Options::for_workspace(workspace, "load")?;
    let mut progress = |line: &str| println!("==> {line}");
    progress("Starting the local stack (stand-ins, emulations, the real functions and agents)");
    let stack = DevStack::start(options, &mut progress).await?;
    stack.set_clock(Some(RUN_INSTANT))?;
    let http = reqwest::Client::new();
    let report = load::run(&stack, &http, args.seconds, &args.noisy, &mut progress).await?;
    println!("\n{}", report.table());
    if let Some(path) = &args.markdown {
        let text = load::markdown(
            &report,
            &format!("with the functions' clock at {RUN_INSTANT}"),
        );
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
        println!("==> Wrote {}", path.display());
    }
    let failures = report.failures();
    for f in &failures {
        eprintln!("FAILED: {f}");
    }
    println!(
        "{} checks failed{}",
        failures.len(),
        if failures.is_empty() {
            "; no canary leaked"
        } else {
            ""
        }
    );
    Ok(failures.is_empty())
}
