//! TOOLING, never deployed: the LOCAL EMULATIONS of the AWS services that have no stand-in,
//! each checking every request against AWS's service model for its API ([`aws_model`]): API
//! Gateway (the REST API in front of the functions), AgentCore Runtime and Gateway, Memory, the
//! Knowledge Base, Guardrails, the model (a deterministic stand-in, not a language model), an
//! OTLP collector, a local Lambda platform (Invoke API and Runtime API running the functions'
//! built binaries), moto's validating front, and the fault and counting proxies the tests and
//! benchmarks put in front of them.

pub mod agent;
pub mod apigateway;
pub mod aws_model;
pub mod counting_proxy;
pub mod fault_proxy;
pub mod function_host;
pub mod gateway;
pub mod guardrail;
pub mod iam;
pub mod knowledge_base;
pub mod lambda;
pub mod lambda_api;
pub mod memory;
pub mod model;
pub mod otlp;
pub mod runtime;
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
