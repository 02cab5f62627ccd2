//! The request-proxy Lambda: configuration and the HTTP client once, then the router.

use std::sync::Arc;

use request_proxy::config::ResponseMode;
use request_proxy::{Config, Deps, router};
use secret_config::SecretSource;
use tenant_context::TierCatalog;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::logging::init_json();
    let catalog = TierCatalog::embedded()?;
    let config = Config::from_lookup(|k| std::env::var(k).ok(), &catalog)?;
    let http = shared_https::roots()
        .reqwest_builder()
        .timeout(config.timeout)
        .build()?;
    // One AWS configuration (credentials chain, Region, HTTP client) for the session key's
    // SSM read and the usage table, loaded only when either needs it.
    let sdk = match (&config.session_key, &config.usage_table) {
        (SecretSource::Inline(_), None) => None,
        _ => Some(shared_https::sdk::load().await),
    };
    let vars = request_proxy::config::SESSION_KEY_VARS;
    let key = match &sdk {
        Some(sdk) => {
            vars.resolve(config.session_key.clone(), &aws_sdk_ssm::Client::new(sdk))
                .await?
        }
        None => vars.load(config.session_key.clone()).await?,
    };
    let sessions = tenant_context::SessionBinder::from_base64(&key)?;
    let usage = match (&config.usage_table, &sdk) {
        (Some(table), Some(sdk)) => Some(usage_meter::UsageMeter::from_sdk(sdk, table)),
        _ => {
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
