//! The main job: the whole Tenantry flow that exists so far, on the LOCAL STAND-INS.
//! See `flow.rs`; this file only handles the command line and the exit code.

mod assistant;
mod flow;

use std::process::ExitCode;

const HELP: &str = "\
local-flow: runs the Tenantry flow end to end on the LOCAL STAND-INS (no AWS account).

Creates a Cognito user pool on the moto stand-in with one user per demo clinic
(infra/demo-tenants.json), verifies each ID token, vends scoped credentials,
calls every tool of the real tool-target, onboards the tenants with
tenant-admin, plays API Gateway's hops through the real authorizer and proxy,
and asks each tier's real agent-runtime questions (behind local emulations of
AgentCore Runtime and Gateway, with a deterministic model stand-in), checking
that every cross-tenant attempt is refused.

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
