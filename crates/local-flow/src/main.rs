//! The main job: the whole Tenantry flow that exists so far, on the LOCAL STAND-INS.
//! See `flow.rs`; this file only handles the command line and the exit code.

mod assistant;
mod flow;

use std::process::ExitCode;

const HELP: &str = "\
local-flow: runs the Tenantry flow end to end on the LOCAL STAND-INS (no AWS account).

Creates a Cognito user pool on the moto stand-in with one user per demo clinic
(infra/demo-tenants.json), signs each in, verifies each ID token against the
pool's JWKS, and prints the tenant context and derived names it yields; then
shows a tampered token being refused.

Normally started by scripts/local-flow.sh, which installs and starts the
stand-ins and sets TENANTRY_MOTO_URL. Exit status 0 when every step behaved.

Usage: local-flow [--help]";

#[tokio::main]
async fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("unknown argument {other:?}\n\n{HELP}");
            return ExitCode::from(2);
        }
    }
    match flow::run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-flow failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}
