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
    // One AWS configuration (credentials chain, Region, HTTP client): InvokeAgentRuntime is
    // signed with this function's role, and the session key and the usage table use it too.
    let sdk = shared_https::sdk::load().await;
    let role = match (sdk.credentials_provider(), sdk.region()) {
        (Some(creds), Some(region)) => {
            request_signing::RoleCredentials::new(creds, region.to_string())
        }
        _ => {
            return Err(
                "request-proxy needs AWS credentials and AWS_REGION (InvokeAgentRuntime is signed with its role)"
                    .into(),
            );
        }
    };
    let vars = request_proxy::config::SESSION_KEY_VARS;
    let key = match &config.session_key {
        SecretSource::Inline(_) => vars.load(config.session_key.clone()).await?,
        _ => {
            vars.resolve(config.session_key.clone(), &aws_sdk_ssm::Client::new(&sdk))
                .await?
        }
    };
    let sessions = tenant_context::SessionBinder::from_base64(&key)?;
    let usage = match &config.usage_table {
        Some(table) => Some(usage_meter::UsageMeter::from_sdk(&sdk, table)),
        None => {
            tracing::warn!(
                "{} is not set: requests are not counted and GET /usage is not served",
                usage_meter::ENV_USAGE_TABLE
            );
            None
        }
    };
    // The audit page tokens' key is derived from the session key (a key of its own purpose:
    // see audit_trail::PageSeal); both live only in this function and the agents.
    let audit = match &config.audit_log_group {
        Some(group) => {
            use base64::Engine as _;
            let secret = base64::engine::general_purpose::STANDARD.decode(key.trim())?;
            Some(request_proxy::audit::AuditReader {
                log: audit_trail::AuditLog::new(&sdk, group.clone()),
                seal: audit_trail::PageSeal::derived(&secret)?,
            })
        }
        None => {
            tracing::warn!(
                "{} is not set: GET /audit is not served",
                audit_trail::ENV_AUDIT_LOG_GROUP
            );
            None
        }
    };
    let registry = config.registry_table.as_ref().map(|table| {
        tenant_registry::TenantRegistry::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone())
    });
    let deps = Arc::new(Deps {
        audit,
        registry,
        sessions,
        config,
        catalog,
        runtime: request_proxy::runtime::RuntimeClient { http, role },
        usage,
    });
    // The same routes either way; only how the answer reaches API Gateway differs.
    match deps.config.response_mode {
        ResponseMode::Buffered => lambda_http::run(router(deps)).await,
        ResponseMode::Stream => lambda_http::run_with_streaming_response(router(deps)).await,
    }
}
