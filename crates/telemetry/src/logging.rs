//! Structured JSON logs for every binary, with one safety rule: the wire-level traces of the
//! AWS SDK, the HTTP stack, the Lambda runtime, the MCP client and the request signer (which
//! print request and response bodies and headers, raw events, MCP messages and signed URLs, so
//! patient data, tokens and signatures) stay off, whatever `RUST_LOG` asks for.
//!
//! The rule is a second filter beside the user's, not a directive inside it: an `EnvFilter`
//! enables an event when *any* directive does, and a span-scoped directive
//! (`[DynamoDB.GetItem]=trace`, `[{requestId}]=trace`) enables every target inside that span,
//! whatever the target directives say. The cap is a [`Targets`] filter, which looks at an
//! event's target and level only, and both filters must agree.

use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt, Targets, combinator::And};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Crates whose DEBUG/TRACE output can contain bodies or credentials. A target matches when it
/// starts with one of these (`aws_sdk` covers every `aws_sdk_*` service crate, `lambda_runtime`
/// also `lambda_runtime_api_client`, `tower` also `tower_http`): lambda_runtime logs each raw
/// event at trace, rmcp every MCP message (tool arguments, patient rows), aws_sigv4 the signed
/// request (its URL carries session and actor ids), axum and tower_http request details.
const WIRE_TARGETS: [&str; 16] = [
    "lambda_runtime",
    "lambda_http",
    "rmcp",
    "aws_sigv4",
    "axum",
    "tower",
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

/// The filter of every log layer: the user's filter and the wire cap, both required.
pub type LogFilter<S> = And<EnvFilter, Targets, S>;

/// `rust_log` (RUST_LOG's value; default `info`) as the user's filter, combined with the cap
/// that keeps every wire-level target at `info` or above.
pub fn filter<S>(rust_log: Option<&str>) -> LogFilter<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    user_filter(rust_log).and(wire_cap())
}

/// The cap no directive can lift: every target passes at any level except the wire targets.
fn wire_cap() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(WIRE_TARGETS.iter().map(|t| (*t, LevelFilter::INFO)))
}

/// The user's directives. Target directives for the wire targets are dropped (the cap would
/// refuse them anyway; dropping them keeps the user's filter from raising the callsite interest
/// of the SDK for nothing). An unparsable RUST_LOG falls back to `info`: it must not switch
/// logging off, nor on wholesale.
fn user_filter(rust_log: Option<&str>) -> EnvFilter {
    let user: Vec<&str> = rust_log
        .unwrap_or("info")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| !WIRE_TARGETS.iter().any(|t| d.starts_with(t)))
        .collect();
    let directives = if user.is_empty() {
        "info".to_owned()
    } else {
        user.join(",")
    };
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the JSON subscriber of a function, once, at start-up (the agent installs its own,
/// with traces: `traces::Telemetry::init`).
pub fn init_json() {
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_filter(filter(std::env::var("RUST_LOG").ok().as_deref()));
    // A second install (only possible in tests) keeps the first subscriber.
    let _ = Registry::default().with(layer).try_init();
}
