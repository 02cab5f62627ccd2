//! The Lambda Runtime API loop for this function.
//!
//! Hand-written on purpose: lambda_runtime 1.5.0 parses the client context into
//! `ClientContext { custom: HashMap<String, String> }` while building the invocation context,
//! before any layer or handler runs, and ends the whole run loop on the error. AgentCore
//! Gateway puts the propagated headers in `custom` as a nested object, so every Gateway call
//! would kill the function. The HTTP client to the Runtime API is still lambda_runtime's own
//! (`lambda_runtime_api_client`); only the loop (next, then response) is ours, and it hands
//! the raw client context to the handler.

use std::future::Future;

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{PooledClient, build_request};
use serde_json::Value;

pub type BoxError = lambda_runtime_api_client::BoxError;

/// One invocation, as the Runtime API delivered it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// Milliseconds since the epoch by which the function must answer.
    pub deadline_ms: Option<u64>,
    /// `Lambda-Runtime-Client-Context`, raw JSON, if any.
    pub client_context: Option<String>,
    pub payload: Bytes,
}

pub struct RuntimeLoop {
    client: PooledClient,
}

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

impl RuntimeLoop {
    /// Talks to `AWS_LAMBDA_RUNTIME_API`, as every Lambda runtime does.
    pub fn from_env() -> Self {
        Self {
            client: PooledClient::builder().build(),
        }
    }

    /// Talks to the Runtime API at `endpoint` (e.g. `http://127.0.0.1:9001`).
    pub fn with_endpoint(endpoint: http::Uri) -> Self {
        Self {
            client: PooledClient::builder().with_endpoint(endpoint).build(),
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

    /// Serves invocations until the Runtime API fails (then Lambda restarts the process).
    /// The handler's JSON is the reply; a handler that panics is reported as a function error
    /// for that invocation and the loop goes on.
    pub async fn run<F, Fut>(&self, handler: F) -> Result<(), BoxError>
    where
        F: Fn(Invocation) -> Fut,
        Fut: Future<Output = Value> + Send + 'static,
    {
        loop {
            let inv = self.next().await?;
            let id = inv.request_id.clone();
            match tokio::spawn(handler(inv)).await {
                Ok(reply) => {
                    let body = serde_json::to_vec(&reply)?;
                    self.post(
                        format!("/2018-06-01/runtime/invocation/{id}/response"),
                        body,
                        None,
                    )
                    .await?;
                }
                Err(join) => {
                    tracing::error!(request_id = %id, panicked = join.is_panic(), "handler failed");
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
                }
            }
        }
    }
}
