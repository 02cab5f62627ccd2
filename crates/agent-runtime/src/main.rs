//! The agent-runtime binary: configuration and clients once, then the HTTP server.

use std::sync::Arc;

use agent_runtime::guardrail::Guardrail;
use agent_runtime::memory::AgentMemory;
use agent_runtime::model::ChatClient;
use agent_runtime::tools::Gateway;
use agent_runtime::{Config, Deps, Health};
use scoped_credentials::{CredentialCache, Issuer};
use tenant_context::{TierCatalog, TokenVerifier};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tenant_context::logging::init_json();
    let catalog = TierCatalog::embedded()?;
    let mut config = Config::from_lookup(|k| std::env::var(k).ok(), &catalog)?;
    let sessions = config.load_parameters().await?;
    // One HTTP client (one connection pool) for the model and the Gateway.
    let http = reqwest::Client::builder().build()?;
    let verifier = TokenVerifier::new(config.verifier.clone(), catalog)?;
    if let Err(e) = verifier.prefetch_keys().await {
        tracing::warn!(error = %e, "JWKS prefetch failed; will retry on the first invocation");
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(
        tier = %config.tier,
        model_id = %config.model.model_id,
        listen = %config.listen,
        "agent runtime ready"
    );
    // Only memory, its credential issuer and the guardrail use the AWS SDK.
    let sdk = if config.memory.is_some() || config.guardrail.is_some() {
        Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    } else {
        None
    };
    let memory = match (&config.memory, &sdk) {
        (Some(settings), Some(sdk)) => {
            let issuer = Issuer::from_config(&settings.credentials, sdk)?;
            Some(AgentMemory::new(
                sdk.clone(),
                settings.memory_id.clone(),
                Arc::new(CredentialCache::new(issuer)),
            ))
        }
        _ => None,
    };
    let guardrail = match (&config.guardrail, config.tier_config.guardrail, &sdk) {
        (Some(settings), Some(policy), Some(sdk)) => Some(Guardrail::new(
            aws_sdk_bedrockruntime::Client::new(sdk),
            settings.clone(),
            policy,
        )),
        _ => None,
    };
    let deps = Arc::new(Deps {
        guardrail,
        memory,
        model: ChatClient::new(http.clone(), config.model.clone()),
        gateway: Gateway::new(http, config.gateway_url.clone(), &config.tier_config),
        verifier,
        sessions,
        health: Arc::new(Health::new()),
        config,
    });
    agent_runtime::server::serve(listener, deps).await?;
    Ok(())
}
