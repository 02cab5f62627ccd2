//! The LOCAL EMULATION of the AgentCore Runtime invocation endpoint, in front of the real
//! `agent-runtime` processes (one per tier). It does what the deployed Runtime does before
//! the container sees a request:
//!
//! - `POST /runtimes/{url-encoded runtime ARN}/invocations?qualifier=DEFAULT`, routed by ARN;
//! - IAM inbound auth (the template sets no authorizer): a SigV4 signature of a principal the
//!   template grants `bedrock-agentcore:InvokeAgentRuntime` (request-proxy's role only), else
//!   403 (see `iam`); a user's Bearer token opens nothing;
//! - the session id header required (33-256 characters), a fresh request id header added;
//! - only allow-listed request headers passed on (the template's `RequestHeaderAllowlist`:
//!   the custom ID-token header), and the answer streamed back as the container sends it.
//!
//! Known differences from AWS: the error bodies' shape is this emulation's own; no microVM
//! per session: one process serves a tier.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use percent_encoding::percent_decode_str;
use serde_json::json;

use crate::iam::SigV4Check;

pub use contracts::headers::{
    RUNTIME_REQUEST_ID as REQUEST_ID_HEADER, RUNTIME_SESSION_ID as SESSION_HEADER,
};

/// One runtime: its ARN and the base URL of the agent process serving it.
#[derive(Debug, Clone)]
pub struct RuntimeRoute {
    pub arn: String,
    pub agent_url: String,
    pub tier: tenant_context::TierName,
}

/// The request headers the template allow-lists (`RequestHeaderAllowlist`).
pub const ALLOWED_HEADERS: [&str; 1] = [contracts::headers::RUNTIME_ID_TOKEN];

/// The emulation's state, shared by its handlers.
pub struct Inner {
    routes: Vec<RuntimeRoute>,
    iam: SigV4Check,
    http: reqwest::Client,
    requests: AtomicU64,
}

/// A running emulation; dropping it stops the server.
pub type RuntimeEmulation = crate::aws_model::layer::Served<Inner>;

impl RuntimeEmulation {
    pub async fn start(
        routes: Vec<RuntimeRoute>,
        iam: SigV4Check,
        port: u16,
    ) -> std::io::Result<Self> {
        let inner = Inner {
            routes,
            iam,
            http: reqwest::Client::new(),
            requests: AtomicU64::new(0),
        };
        let app = axum::Router::new().route("/runtimes/{arn}/invocations", post(invoke));
        Self::serve(
            app,
            inner,
            "bedrock-agentcore",
            &["InvokeAgentRuntime"],
            port,
        )
        .await
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"__type": kind, "message": message})),
    )
        .into_response()
}

async fn invoke(
    State(inner): State<Arc<Inner>>,
    Path(arn): Path<String>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let arn = percent_decode_str(&arn).decode_utf8_lossy().into_owned();
    let Some(route) = inner.routes.iter().find(|r| r.arn == arn) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "no such runtime",
        );
    };
    let qualifier = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("qualifier=")));
    if qualifier.is_some_and(|q| q != "DEFAULT") {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "no such endpoint",
        );
    }
    // IAM first, as AWS authenticates before it looks at the request's content.
    if let Err(refusal) = inner.iam.check(&method, &uri, &headers, &body) {
        return error(StatusCode::FORBIDDEN, refusal.code(), &refusal.to_string());
    }
    let session = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok());
    let Some(session) = session.filter(|s| (33..=256).contains(&s.len())) else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "runtime session id must be 33 to 256 characters",
        );
    };
    let n = inner.requests.fetch_add(1, Ordering::Relaxed);
    let mut req = inner
        .http
        .post(format!("{}/invocations", route.agent_url))
        .header(SESSION_HEADER, session)
        .header(REQUEST_ID_HEADER, format!("local-runtime-request-{n}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(accept) = headers.get(header::ACCEPT) {
        req = req.header(header::ACCEPT, accept);
    }
    // Allow-listed headers only, every value of each (the agent refuses repeats).
    for name in ALLOWED_HEADERS {
        for value in headers.get_all(name) {
            req = req.header(name, value);
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(_) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "RuntimeClientError",
                "the agent container did not answer",
            );
        }
    };
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| header::HeaderValue::from_static("application/json"));
    let mut out = Response::new(Body::from_stream(resp.bytes_stream()));
    *out.status_mut() = status;
    out.headers_mut().insert(header::CONTENT_TYPE, content_type);
    out
}
