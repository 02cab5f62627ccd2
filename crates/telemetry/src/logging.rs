//! Structured JSON logs for every binary, with one safety rule: the wire-level traces of the
//! AWS SDK and the HTTP stack (which print request and response bodies and headers, so patient
//! data, tokens and signatures) stay off, whatever `RUST_LOG` asks for.

use tracing_subscriber::EnvFilter;

/// Crates whose DEBUG/TRACE output can contain bodies or credentials.
const WIRE_TARGETS: [&str; 10] = [
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sdk",
    "aws_runtime",
    "aws_config",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
];

/// The filter: `rust_log` (RUST_LOG's value; default `info`), with every wire-level target
/// capped at `info`. Directives in `rust_log` for those targets are dropped, not merged.
pub fn env_filter(rust_log: Option<&str>) -> EnvFilter {
    let user: Vec<&str> = rust_log
        .unwrap_or("info")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| !WIRE_TARGETS.iter().any(|t| d.starts_with(t)))
        .collect();
    let mut directives = if user.is_empty() {
        vec!["info".to_owned()]
    } else {
        user.iter().map(|d| (*d).to_owned()).collect()
    };
    directives.extend(WIRE_TARGETS.iter().map(|t| format!("{t}=info")));
    EnvFilter::try_new(directives.join(",")).unwrap_or_else(|_| {
        // An unparsable RUST_LOG must not switch logging off, nor on wholesale.
        EnvFilter::new(
            WIRE_TARGETS
                .iter()
                .fold("info".to_owned(), |acc, t| format!("{acc},{t}=info")),
        )
    })
}

/// Installs the JSON subscriber of a function, once, at start-up (the agent installs its own,
/// with traces: `traces::Telemetry::init`).
pub fn init_json() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(env_filter(std::env::var("RUST_LOG").ok().as_deref()))
        .init();
}
