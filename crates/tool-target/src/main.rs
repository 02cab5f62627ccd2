//! The tool-target Lambda: configuration and clients once, then the runtime loop.

use std::sync::Arc;

use scoped_credentials::{CredentialCache, Issuer};
use secret_config::SecretSource;
use tenant_context::{TierCatalog, TokenVerifier};
use tool_target::clock::{Clock, system_clock};
use tool_target::config::{Config, PageTokenKey};
use tool_target::handler::{Deps, handle};
use tool_target::runtime::RuntimeLoop;
use tool_target::web_search::{GuardrailScreen, WEB_SEARCH_KEY_VARS, WebSearch, WebSearchConfig};

// One thread: Lambda gives an instance one invocation at a time, and a worker pool would only
// add threads and cross-thread wake-ups to every call.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    telemetry::logging::init_json();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = shared_https::sdk::load().await;
    // No SSM client for a key set inline: building an SDK client is about a millisecond of
    // every cold start.
    let page_tokens = match config.page_token_key {
        PageTokenKey::Inline(tokens) => tokens,
        parameter => parameter.resolve(&aws_sdk_ssm::Client::new(&sdk)).await?,
    };
    let web_search = web_search(config.web_search, &sdk).await?;
    let verifier = TokenVerifier::new(config.verifier, TierCatalog::embedded()?)?;
    if let Err(e) = verifier.prefetch_keys().await {
        tracing::warn!(error = %e, "JWKS prefetch failed; will retry on first call");
    }
    let documents = tool_target::documents::DocumentsClient::lazy(&sdk);
    // The registry with this function's own role (the only DynamoDB client that is not the
    // tenant's).
    let served = tenant_registry::ServedTenants::new(
        tenant_registry::TenantRegistry::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.registry_table,
        ),
        config.registry_cache,
    );
    let deps = Arc::new(Deps {
        documents,
        verifier,
        credentials: Arc::new(CredentialCache::new(Issuer::from_config(
            &config.credentials,
            &sdk,
        )?)),
        tables: config.tables,
        page_tokens,
        clock: clock(),
        knowledge_bases: config.knowledge_bases,
        web_search,
        clients: Default::default(),
        served,
        audit: audit_trail::AuditLog::new(&sdk, config.audit_log_group),
        sdk,
    });
    RuntimeLoop::from_env()
        .run(move |inv| handle(inv, deps.clone()))
        .await
}

/// Web search as configured: for the https provider, its key read (from SSM in deployments)
/// and its queries' guardrail client built, once.
async fn web_search(
    config: WebSearchConfig,
    sdk: &aws_types::SdkConfig,
) -> Result<WebSearch, Box<dyn std::error::Error + Send + Sync>> {
    Ok(match config {
        WebSearchConfig::NotConfigured => WebSearch::NotConfigured,
        WebSearchConfig::Offline => WebSearch::Offline,
        WebSearchConfig::Https {
            url,
            key,
            guardrail,
        } => {
            let api_key = match key {
                None => None,
                Some(SecretSource::Inline(key)) => Some(key),
                Some(source) => Some(
                    WEB_SEARCH_KEY_VARS
                        .resolve(source, &aws_sdk_ssm::Client::new(sdk))
                        .await?,
                ),
            };
            let screen = Arc::new(GuardrailScreen {
                client: aws_sdk_bedrockruntime::Client::new(sdk),
                guardrail,
            });
            WebSearch::https(url, api_key, screen)?
        }
    })
}

/// The system clock; in debug builds (local runs only), `TENANTRY_DEV_CLOCK_FILE` may name a
/// file holding the instant to use instead (the devstack's injectable clock).
fn clock() -> Clock {
    #[cfg(debug_assertions)]
    if let Some(path) = std::env::var_os("TENANTRY_DEV_CLOCK_FILE") {
        tracing::warn!(
            "TENANTRY_DEV_CLOCK_FILE is set: the time comes from a file (local runs only)"
        );
        return tool_target::clock::file_clock(path.into());
    }
    system_clock()
}
