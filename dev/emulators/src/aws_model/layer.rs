//! The model's check in front of an emulation's routes.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::http::{self, HttpRequest};
use super::{ModelError, Operation, Protocol, ServiceModel, violation_message};

/// A body larger than this is refused before it is read (InvokeAgentRuntime's payload limit is
/// 100 MB; nothing the emulations serve comes near it).
pub(crate) const MAX_BODY: usize = 110 * 1024 * 1024;

/// What a layer saw, for tests and the tour: how many requests it checked, and each it
/// refused (a request AWS would have refused too). The deployed code's requests must all pass.
#[derive(Debug, Clone, Default)]
pub struct Checks(Arc<Mutex<(u64, Vec<String>)>>);

impl Checks {
    /// Every request checked against the model (passed or refused).
    pub fn checked(&self) -> u64 {
        self.0.lock().map(|c| c.0).unwrap_or(0)
    }

    /// What was refused, one line each (operation and the constraints broken).
    pub fn refused(&self) -> Vec<String> {
        self.0.lock().map(|c| c.1.clone()).unwrap_or_default()
    }

    fn count(&self) {
        if let Ok(mut c) = self.0.lock() {
            c.0 += 1;
        }
    }

    fn refuse(&self, entry: String) {
        if let Ok(mut c) = self.0.lock() {
            c.1.push(entry);
        }
    }
}

struct Guard {
    model: Arc<ServiceModel>,
    operations: Vec<Operation>,
    checks: Checks,
}

/// Marks the responses the model check itself gave (not the emulation behind it), for tests.
pub const REFUSED_BY_MODEL: &str = "x-tenantry-model-refused";

/// An AWS error as both protocols carry it: the type in `x-amzn-errortype` (REST-JSON) and
/// in the body's `__type` (JSON), the text in `message`.
fn aws_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("x-amzn-errortype", code), (REFUSED_BY_MODEL, "true")],
        axum::Json(serde_json::json!({ "__type": code, "message": message })),
    )
        .into_response()
}

/// `router` with every request checked against `operations` of `model` first: a request that
/// is none of them is `UnknownOperationException`, one that breaks the model's constraints
/// is refused as AWS refuses it (and recorded in `checks`), and a success is answered with
/// the operation's own status (CreateEvent's 201).
pub fn validated(
    router: Router,
    model: Arc<ServiceModel>,
    operations: &[&str],
    checks: Checks,
) -> Result<Router, ModelError> {
    let operations = model.operations(operations)?.into_iter().cloned().collect();
    let guard = Arc::new(Guard {
        model,
        operations,
        checks,
    });
    Ok(router
        .fallback(|| async {
            aws_error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "no operation of this service is at this path",
            )
        })
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let guard = guard.clone();
                async move { check(guard, req, next).await }
            },
        )))
}

/// The request as the model sees it.
pub(crate) fn wire(parts: &axum::http::request::Parts, body: &[u8]) -> HttpRequest {
    HttpRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))
            })
            .collect(),
        body: body.to_vec(),
    }
}

/// Which of `operations` the request is, or AWS's refusal of it (recorded in `checks`).
pub(crate) fn judge<'a>(
    model: &ServiceModel,
    operations: &[&'a Operation],
    wire: &HttpRequest,
    checks: &Checks,
) -> Result<&'a Operation, Box<Response>> {
    checks.count();
    let Some(op) = http::find(model, operations, wire) else {
        checks.refuse(format!(
            "{} {} {}: no operation of {} served here",
            model.service, wire.method, wire.path, model.service
        ));
        let status = if model.protocol == Protocol::RestJson {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        return Err(Box::new(aws_error(
            status,
            "UnknownOperationException",
            "no operation of this service matches the request",
        )));
    };
    if let Err(violations) = model.check(op, wire) {
        let message = violation_message(&violations);
        tracing::warn!(
            service = %model.service,
            operation = %op.name,
            %message,
            "refused a request AWS's service model refuses"
        );
        checks.refuse(format!("{}: {message}", op.name));
        return Err(Box::new(aws_error(
            StatusCode::BAD_REQUEST,
            model.validation_error_code(op),
            &message,
        )));
    }
    Ok(op)
}

async fn check(guard: Arc<Guard>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return too_large();
    };
    let wire = wire(&parts, &bytes);
    let operations: Vec<&Operation> = guard.operations.iter().collect();
    let op = match judge(&guard.model, &operations, &wire, &guard.checks) {
        Ok(op) => op,
        Err(refusal) => return *refusal,
    };
    let response_code = op.response_code;
    let mut resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if resp.status().is_success()
        && let Ok(status) = StatusCode::from_u16(response_code)
    {
        *resp.status_mut() = status;
    }
    resp
}

pub(crate) fn too_large() -> Response {
    aws_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLargeException",
        "the request body is too large",
    )
}

/// A running emulation of an AWS API: where it listens, its state, and the requests it judged
/// against AWS's service model. Each emulation is `Served<its state>`.
pub struct Served<S> {
    addr: std::net::SocketAddr,
    state: std::sync::Arc<S>,
    _server: crate::ServerTask,
    checks: Checks,
}

impl<S: Send + Sync + 'static> Served<S> {
    /// Serves `app` on 127.0.0.1:`port` behind [`validated`] for `operations` of `service`: what
    /// every emulation of an AWS API starts with.
    pub async fn serve(
        app: Router<std::sync::Arc<S>>,
        state: S,
        service: &str,
        operations: &[&str],
        port: u16,
    ) -> std::io::Result<Self> {
        let state = std::sync::Arc::new(state);
        let model = ServiceModel::load(service).map_err(std::io::Error::other)?;
        let checks = Checks::default();
        let app = validated(
            app.with_state(state.clone()),
            model,
            operations,
            checks.clone(),
        )
        .map_err(std::io::Error::other)?;
        let (addr, task) = crate::serve_local(app, port).await?;
        Ok(Self {
            addr,
            state,
            _server: task,
            checks,
        })
    }

    /// The endpoint for the SDK (`AWS_ENDPOINT_URL_<SERVICE>`) or the caller.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests checked against AWS's service model, and those it refused.
    pub fn model_checks(&self) -> Checks {
        self.checks.clone()
    }

    pub(crate) fn state(&self) -> &S {
        &self.state
    }

    /// The state, shared (for another emulation over the same data: a control plane's).
    pub(crate) fn shared(&self) -> std::sync::Arc<S> {
        self.state.clone()
    }
}
