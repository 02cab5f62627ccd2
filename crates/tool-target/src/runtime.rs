//! The Lambda Runtime API loop for this function.
//!
//! Hand-written on purpose: lambda_runtime 1.5.0 parses the client context into
//! `ClientContext { custom: HashMap<String, String> }` while building the invocation context,
//! before any layer or handler runs, and ends the whole run loop on the error. AgentCore
//! Gateway puts the propagated headers in `custom` as a nested object, so every Gateway call
//! would kill the function. The HTTP client to the Runtime API is still lambda_runtime's own
//! (`lambda_runtime_api_client`); only the loop (next, then response) is ours, and it hands
//! the raw client context to the handler.
//!
//! Per invocation the loop also: runs the handler in a span carrying the request id and the
//! X-Ray trace id (every log line of the call names them); answers `deadline_exceeded` before
//! Lambda's deadline when the handler is too slow (instead of letting Lambda kill the
//! process mid-call); and ends the process after a handler panic.
//!
//! Why a panic ends the process: the shipped (release) profile is `panic = "abort"`, so there a
//! panic kills the process at once and Lambda fails the invocation (`Runtime.ExitError`) and
//! starts a fresh one. Builds that unwind (tests, debug) behave the same way on purpose: the
//! invocation gets a function error and the loop stops, so no cache a panic left half-updated
//! (credentials are cached per tenant) ever serves another call.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{PooledClient, build_request};
use serde_json::Value;
use tracing::Instrument;

use crate::error::ToolError;

pub type BoxError = lambda_runtime_api_client::BoxError;

/// One invocation, as the Runtime API delivered it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// Milliseconds since the epoch by which the function must answer.
    pub deadline_ms: Option<u64>,
    /// `Lambda-Runtime-Client-Context`, raw JSON, if any.
    pub client_context: Option<String>,
    /// The X-Ray trace id (`Root=...` of `Lambda-Runtime-Trace-Id`), if any.
    pub trace_id: Option<String>,
    pub payload: Bytes,
}

/// Lambda sends the deadline as milliseconds since the epoch; a smaller value (before
/// 2001-09-09) is no deadline but a duration: cargo-lambda's emulator sends its timeout there.
const PLAUSIBLE_DEADLINE_MS: u64 = 1_000_000_000_000;

/// Time kept back from the deadline to post the reply before Lambda ends the invocation.
pub const REPLY_MARGIN: Duration = Duration::from_millis(500);

/// How long the handler may run: until the deadline less the reply margin (zero if that has
/// passed).
fn budget(deadline_ms: u64, now: SystemTime) -> Duration {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let left = u128::from(deadline_ms).saturating_sub(now_ms);
    Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX)).saturating_sub(REPLY_MARGIN)
}

/// The `Root=` part of an X-Ray trace header (`Root=1-...;Parent=...;Sampled=1`).
fn trace_root(header: &str) -> Option<String> {
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
        .filter(|root| !root.is_empty())
        .map(str::to_owned)
}

pub struct RuntimeLoop {
    client: PooledClient,
    said_no_deadline: AtomicBool,
}

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

impl RuntimeLoop {
    /// Talks to `AWS_LAMBDA_RUNTIME_API`, as every Lambda runtime does.
    pub fn from_env() -> Self {
        Self {
            client: PooledClient::builder().build(),
            said_no_deadline: AtomicBool::new(false),
        }
    }

    /// Talks to the Runtime API at `endpoint` (e.g. `http://127.0.0.1:9001`).
    pub fn with_endpoint(endpoint: http::Uri) -> Self {
        Self {
            client: PooledClient::builder().with_endpoint(endpoint).build(),
            said_no_deadline: AtomicBool::new(false),
        }
    }

    async fn next(&self) -> Result<Invocation, BoxError> {
        let req = build_request()
            .method(Method::GET)
            .uri(NEXT)
            .body(Body::empty())?;
        let resp = self.client.call(req).await?;
        let (parts, body) = resp.into_parts();
        if !parts.status.is_success() {
            return Err(format!("Runtime API {NEXT} answered {}", parts.status).into());
        }
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("lambda-runtime-aws-request-id")
            .ok_or("Runtime API event without Lambda-Runtime-Aws-Request-Id")?;
        Ok(Invocation {
            request_id,
            deadline_ms: header("lambda-runtime-deadline-ms").and_then(|d| d.parse().ok()),
            client_context: header("lambda-runtime-client-context"),
            trace_id: header("lambda-runtime-trace-id").and_then(|h| trace_root(&h)),
            payload: body.collect().await?.to_bytes(),
        })
    }

    async fn post(
        &self,
        path: String,
        body: Vec<u8>,
        error_type: Option<&str>,
    ) -> Result<(), BoxError> {
        let mut req = build_request()
            .method(Method::POST)
            .uri(path.as_str())
            .header("content-type", "application/json");
        if let Some(t) = error_type {
            req = req.header("lambda-runtime-function-error-type", t);
        }
        let resp = self.client.call(req.body(Body::from(body))?).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("Runtime API {path} answered {}", resp.status()).into())
        }
    }

    /// Serves invocations until the Runtime API fails (then Lambda restarts the process) or a
    /// handler panics (see the module documentation). The handler's JSON is the reply.
    pub async fn run<F, Fut>(&self, handler: F) -> Result<(), BoxError>
    where
        F: Fn(Invocation) -> Fut,
        Fut: Future<Output = Value> + Send + 'static,
    {
        loop {
            let inv = self.next().await?;
            let id = inv.request_id.clone();
            let span = tracing::info_span!(
                "tool_invocation",
                request_id = %id,
                trace_id = inv.trace_id.as_deref().unwrap_or("-"),
            );
            let budget = inv
                .deadline_ms
                .filter(|d| {
                    let epoch = *d >= PLAUSIBLE_DEADLINE_MS;
                    // Said once per process, not on every call of a local run.
                    if !epoch && !self.said_no_deadline.swap(true, Ordering::Relaxed) {
                        span.in_scope(|| tracing::warn!(deadline_ms = d, "the Runtime API's deadline is not a time (a local emulator's timeout?): not enforced"));
                    }
                    epoch
                })
                .map(|d| budget(d, SystemTime::now()));
            let mut task = tokio::spawn(handler(inv).instrument(span.clone()));
            let outcome = match budget {
                Some(budget) => tokio::time::timeout(budget, &mut task).await.ok(),
                None => Some((&mut task).await),
            };
            let response = format!("/2018-06-01/runtime/invocation/{id}/response");
            match outcome {
                Some(Ok(reply)) => {
                    self.post(response, serde_json::to_vec(&reply)?, None)
                        .await?
                }
                None => {
                    task.abort();
                    span.in_scope(|| {
                        tracing::warn!(
                            budget_ms = budget.map(|b| b.as_millis() as u64),
                            "the tool did not finish before the deadline"
                        )
                    });
                    let reply = ToolError::DeadlineExceeded.to_reply();
                    self.post(response, serde_json::to_vec(&reply)?, None)
                        .await?;
                }
                Some(Err(join)) => {
                    span.in_scope(|| {
                        tracing::error!(
                            panicked = join.is_panic(),
                            "handler failed; ending the process"
                        )
                    });
                    let body = serde_json::to_vec(&serde_json::json!({
                        "errorType": "Internal.handler_failed",
                        "errorMessage": "the tool failed unexpectedly",
                    }))?;
                    self.post(
                        format!("/2018-06-01/runtime/invocation/{id}/error"),
                        body,
                        Some("Internal.handler_failed"),
                    )
                    .await?;
                    return Err("a handler panicked: the process ends so that nothing it left half-done serves another call".into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_the_reply_margin_and_never_goes_negative() {
        let now = UNIX_EPOCH + Duration::from_millis(10_000);
        assert_eq!(budget(13_000, now), Duration::from_millis(2_500));
        assert_eq!(budget(10_400, now), Duration::ZERO);
        assert_eq!(budget(5_000, now), Duration::ZERO);
    }

    #[test]
    fn the_trace_root_is_read_from_the_xray_header() {
        assert_eq!(
            trace_root(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
            )
            .as_deref(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(trace_root("Parent=53995c3f42cd8ad8"), None);
        assert_eq!(trace_root("Root="), None);
    }
}
