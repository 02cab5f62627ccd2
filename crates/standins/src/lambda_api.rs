//! A LOCAL STAND-IN for the Lambda service's `Invoke` API (buffered, RequestResponse) in
//! front of functions run by [`crate::function_host`], each its own process with its own
//! environment.
//!
//! Why beside cargo-lambda's emulator: that emulator gives every function of the workspace
//! one environment, and a deployment that runs one binary twice with different settings (the
//! token vending machine, once per calling role) needs two. Function errors come back as
//! Lambda returns them: status 200, `X-Amz-Function-Error: Unhandled`, the error object as
//! the payload. Not emulated: qualifiers, asynchronous invocation, log tails, payload limits.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::error::Error;
use crate::function_host::{FunctionHost, Reply};

type Functions = Arc<Vec<(String, Arc<FunctionHost>)>>;

/// The Invoke API; dropping it stops the server (the functions stop with their hosts).
pub struct LambdaInvokeApi {
    _server: crate::ServerTask,
    addr: SocketAddr,
}

impl LambdaInvokeApi {
    /// Serves `functions` (by name) on 127.0.0.1, on a free port.
    pub async fn start(functions: Vec<(String, Arc<FunctionHost>)>) -> Result<Self, Error> {
        let app = axum::Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            .with_state(Arc::new(functions));
        let (addr, server) = crate::serve_local(app, 0)
            .await
            .map_err(Error::call("start the Lambda Invoke API stand-in"))?;
        Ok(Self {
            _server: server,
            addr,
        })
    }

    /// What `AWS_ENDPOINT_URL_LAMBDA` should be for a caller of these functions.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// `name`, `arn:...:function:name` or either with a `:qualifier`: the bare name.
fn function_name(raw: &str) -> &str {
    let name = raw.split_once(":function:").map_or(raw, |(_, rest)| rest);
    name.split(':').next().unwrap_or(name)
}

fn aws_error(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        [("x-amzn-ErrorType", kind.to_owned())],
        axum::Json(json!({"Type": "User", "message": message})),
    )
        .into_response()
}

async fn invoke(
    State(functions): State<Functions>,
    Path(function): Path<String>,
    body: Bytes,
) -> Response {
    let name = function_name(&function);
    let Some((_, host)) = functions.iter().find(|(n, _)| n == name) else {
        return aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {name}"),
        );
    };
    let event: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "Could not parse request body into json".into(),
            );
        }
    };
    let mut replies = match host.invoke(event).await {
        Ok(r) => r,
        Err(e) => {
            return aws_error(
                StatusCode::BAD_GATEWAY,
                "ServiceException",
                format!("the function host failed: {e}"),
            );
        }
    };
    let mut payload = Vec::new();
    while let Some(reply) = replies.recv().await {
        match reply {
            Reply::Chunk(b) => payload.extend_from_slice(&b),
            Reply::Failed(error) => {
                return (
                    StatusCode::OK,
                    [("X-Amz-Function-Error", "Unhandled")],
                    axum::Json(error),
                )
                    .into_response();
            }
        }
    }
    (StatusCode::OK, payload).into_response()
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn names_arns_and_qualifiers_resolve_to_the_function() {
        assert_eq!(function_name("memory-vending"), "memory-vending");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:memory-vending"),
            "memory-vending"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:memory-vending:live"),
            "memory-vending"
        );
        assert_eq!(function_name("memory-vending:live"), "memory-vending");
    }
}
