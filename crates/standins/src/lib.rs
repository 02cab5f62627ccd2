//! Glue for the LOCAL STAND-INS of AWS services: moto (Cognito, STS, ...) and dynalite
//! (DynamoDB), bound to 127.0.0.1 by `scripts/standins.sh`, and a local Lambda Invoke and
//! Runtime API ([`lambda_api`], [`function_host`]) running the functions' built binaries.
//!
//! Used by tests and by the local flow only; never linked into a deployed function. Nothing
//! here is evidence about real AWS behaviour beyond what the stand-ins reproduce: moto does not
//! evaluate IAM policies and does not enforce Cognito app-client WriteAttributes.

pub mod adversarial;
pub mod agent;
pub mod apigateway;
pub mod aws_model;
pub mod aws_samples;
pub mod cognito;
pub mod counting_proxy;
pub mod dynamo;
mod endpoints;
mod error;
pub mod fault_proxy;
pub mod function_host;
pub mod gateway;
pub mod guardrail;
pub mod knowledge_base;
pub mod lambda;
pub mod lambda_api;
pub mod logs;
pub mod memory;
pub mod model;
pub mod otlp;
pub mod runtime;
pub mod runtime_api;
pub mod s3;
pub mod sdk;
pub mod tenants;
pub mod test_issuer;
pub mod tls_proxy;

/// An error as AWS's REST-JSON services answer it: the type in `x-amzn-errortype` (which the
/// SDKs read) and `{"message"}` in the body.
pub(crate) fn aws_error(
    status: axum::http::StatusCode,
    kind: &str,
    message: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        status,
        [("x-amzn-errortype", kind)],
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

/// A local server's task: dropping it stops the server, so an emulation holding one needs no
/// `Drop` of its own.
pub struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `app` on 127.0.0.1:`port` (0: any free port) until the returned task is dropped.
pub async fn serve_local(
    app: axum::Router,
    port: u16,
) -> std::io::Result<(std::net::SocketAddr, ServerTask)> {
    use axum::serve::ListenerExt as _;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    // Without TCP_NODELAY a response written in two parts waits for the peer's delayed ACK
    // (about 40 ms on Linux): measured as most of a turn's time before this was set.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, ServerTask(server)))
}

pub use endpoints::{ENV_DYNAMODB_URL, ENV_MOTO_URL, Endpoints, STANDIN_REGION};
pub use error::{Error, chain as error_chain};
