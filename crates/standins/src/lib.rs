//! Glue for the LOCAL STAND-INS of AWS services: moto (Cognito, STS, ...) and dynalite
//! (DynamoDB), bound to 127.0.0.1 by `scripts/standins.sh`, and cargo-lambda's emulator for
//! the Lambda service.
//!
//! Used by tests and by the local flow only; never linked into a deployed function. Nothing
//! here is evidence about real AWS behaviour beyond what the stand-ins reproduce: moto does not
//! evaluate IAM policies and does not enforce Cognito app-client WriteAttributes.

pub mod agent;
pub mod cognito;
pub mod dynamo;
mod endpoints;
mod error;
pub mod gateway;
pub mod guardrail;
pub mod knowledge_base;
pub mod lambda;
pub mod logs;
pub mod memory;
pub mod model;
pub mod runtime;
pub mod runtime_api;
pub mod sdk;
pub mod tenants;
pub mod test_issuer;

/// Serves `app` on 127.0.0.1:`port` (0: any free port) until the handle is aborted.
pub(crate) async fn serve_local(
    app: axum::Router,
    port: u16,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, server))
}

pub use endpoints::{ENV_DYNAMODB_URL, ENV_MOTO_URL, Endpoints, STANDIN_REGION};
pub use error::Error;
