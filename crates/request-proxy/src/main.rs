//! The request-proxy Lambda: configuration and the HTTP client once, then the router.

use std::sync::Arc;

use request_proxy::config::ResponseMode;
use request_proxy::{Config, Deps, router};
use tenant_context::TierCatalog;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::logging::init_json();
    let catalog = TierCatalog::embedded()?;
    let config = Config::from_lookup(|k| std::env::var(k).ok(), &catalog)?;
    let http = reqwest::Client::builder().timeout(config.timeout).build()?;
    let key = request_proxy::config::SESSION_KEY_VARS
        .load(config.session_key.clone())
        .await?;
    let sessions = tenant_context::SessionBinder::from_base64(&key)?;
    let usage = match &config.usage_table {
        Some(table) => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            Some(usage_meter::UsageMeter::from_sdk(&sdk, table))
        }
        None => {
            tracing::warn!(
                "{} is not set: requests are not counted and GET /usage is not served",
                usage_meter::ENV_USAGE_TABLE
            );
            None
        }
    };
    let deps = Arc::new(Deps {
        sessions,
        config,
        catalog,
        http,
        usage,
    });
    // The same routes either way; only how the answer reaches API Gateway differs.
    match deps.config.response_mode {
        ResponseMode::Buffered => lambda_http::run(router(deps)).await,
        ResponseMode::Stream => lambda_http::run_with_streaming_response(router(deps)).await,
    }
}
