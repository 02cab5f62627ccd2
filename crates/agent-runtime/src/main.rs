//! The agent-runtime binary: configuration and clients once, then the HTTP server.

use std::sync::Arc;

use agent_runtime::config::ModelAuth;
use agent_runtime::guardrail::Guardrail;
use agent_runtime::memory::AgentMemory;
use agent_runtime::model::ChatClient;
use agent_runtime::tools::{Gateway, SignedGatewayClient};
use agent_runtime::{Config, Deps, Health};
use request_signing::{BedrockKeys, RoleCredentials};
use scoped_credentials::{CredentialCache, Issuer};
use telemetry::traces::{Telemetry, TraceExport};
use tenant_context::{TierCatalog, TokenVerifier};

/// The crates whose spans are exported (the HTTP and MCP libraries' spans are not).
const SPAN_TARGETS: [&str; 1] = ["agent_runtime"];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let env = |k: &str| std::env::var(k).ok();
    let catalog = TierCatalog::embedded()?;
    let mut config = Config::from_lookup(env, &catalog)?;
    let export = TraceExport::from_lookup(env)?;
    // The AWS SDK's configuration (the runtime role): the Gateway takes only requests signed
    // with it, so the agent does not start without credentials and a Region.
    let sdk = shared_https::sdk::load().await;
    let role = match (sdk.credentials_provider(), sdk.region()) {
        (Some(creds), Some(region)) => RoleCredentials::new(creds, region.to_string()),
        _ => {
            return Err(
                "the agent needs AWS credentials and AWS_REGION (its calls to the Gateway are signed with the runtime's role)"
                    .into(),
            );
        }
    };
    let telemetry = Telemetry::init(
        &format!("tenantry-agent-{}", config.tier),
        export,
        Some(role.clone()),
        &SPAN_TARGETS,
    )?;
    let keys = match &config.model.auth {
        ModelAuth::Role => Some(BedrockKeys::new(role.clone())),
        _ => None,
    };
    let sessions = config.load_parameters().await?;
    // One HTTP client (one connection pool) for the model and the Gateway.
    let http = shared_https::roots().reqwest_builder().build()?;
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
    let memory = match &config.memory {
        Some(settings) => {
            let issuer = Issuer::from_config(&settings.credentials, &sdk)?;
            Some(AgentMemory::new(
                sdk.clone(),
                settings.memory_id.clone(),
                Arc::new(CredentialCache::new(issuer)),
            ))
        }
        None => None,
    };
    let guardrail = match (&config.guardrail, config.tier_config.guardrail) {
        (Some(settings), Some(policy)) => Some(Guardrail::new(
            aws_sdk_bedrockruntime::Client::new(&sdk),
            settings.clone(),
            policy,
        )),
        _ => None,
    };
    let usage = config
        .usage_table
        .as_ref()
        .map(|table| usage_meter::UsageMeter::from_sdk(&sdk, table));
    let turn_limit = usage.clone().and_then(|meter| {
        usage_meter::turn_limit::TurnLimit::new(meter, config.user_turns_per_minute)
    });
    // Budget alerts are logged (`budget_alert`) and, with a topic, published to it.
    let budgets = usage.clone().map(|meter| {
        let alerts = config.budget_alert_topic.as_ref().map(|arn| {
            Box::new(agent_runtime::budget::SnsAlerts::new(
                aws_sdk_sns::Client::new(&sdk),
                arn.clone(),
            )) as Box<dyn agent_runtime::budget::AlertSink>
        });
        agent_runtime::budget::Budgets::new(
            usage_meter::budget::TokenBudgets::new(meter),
            config.tier_config.token_budget,
            alerts,
        )
    });
    // The registry with the runtime's own role.
    let served = config.registry_table.as_ref().map(|table| {
        tenant_registry::ServedTenants::new(
            tenant_registry::TenantRegistry::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                table.clone(),
            ),
            config.registry_cache,
        )
    });
    let audit = config
        .audit_log_group
        .as_ref()
        .map(|group| audit_trail::AuditLog::new(&sdk, group.clone()));
    let deps = Arc::new(Deps {
        audit,
        usage,
        turn_limit,
        budgets,
        served,
        guardrail,
        memory,
        model: ChatClient::new(http.clone(), config.model.clone(), keys),
        tools: agent_runtime::tool_sessions::ToolSessions::new(Gateway::new(
            SignedGatewayClient::new(http, role),
            config.gateway_url.clone(),
            &config.tier_config,
        )),
        verifier,
        sessions,
        health: Arc::new(Health::new()),
        after_answer: Default::default(),
        config,
    });
    let served = agent_runtime::server::serve(listener, deps).await;
    // Spans still queued leave before the process does (SIGTERM ends `serve`).
    telemetry.shutdown();
    Ok(served?)
}
