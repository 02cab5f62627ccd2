//! The main job: the tour of the whole system on the LOCAL STAND-INS and EMULATIONS.
//! See `tour.rs`; this file only handles the command line and the exit code.

mod assistant;
mod audit;
mod budget;
mod cost;
mod credentials;
mod front_door;
mod identity;
mod lifecycle;
mod narrate;
mod tiers;
mod tools;
mod tour;
mod users;

use std::process::ExitCode;

const HELP: &str = "\
local-flow: the tour of Tenantry, end to end on the LOCAL STAND-INS (no AWS account).

Brings up the devstack (a Cognito pool with one user per demo clinic, the
tables, every tenant onboarded by tenant-admin, the real functions, each
tier's real agent-runtime behind EMULATIONS of API Gateway, AgentCore Runtime
and Gateway, Memory, Knowledge Base and Guardrails, with a deterministic model
stand-in), then shows, as a client sees it: identity from the token only,
scoped credentials, the tools, the front door, answers from each clinic's own
data, memory, usage limits and the cost per clinic; every cross-tenant,
cross-tier and over-limit attempt must be refused.

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
    match tour::run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-flow failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
