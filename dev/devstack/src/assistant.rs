//! The assistant's side of the stack: the real `agent-runtime` binary of each tier behind the
//! AgentCore Runtime emulation, the model stand-in, the Memory, Knowledge Base and Guardrails
//! emulations, and an AgentCore Gateway emulation per tier in front of the real `tool-target`
//! function on the Lambda stand-in.

use std::path::Path;
use std::sync::Arc;

use emulators::agent::{AgentProcess, free_port};
use emulators::gateway::{GatewayEmulation, LambdaBackend};
use emulators::guardrail::GuardrailEmulation;
use emulators::knowledge_base::{
    IngestionEmulation, KnowledgeBaseEmulation, demo_data_source_id, demo_knowledge_base_id,
    upload_demo_documents,
};
use emulators::memory::{MemoryEmulation, definitions};
use emulators::model::ModelStandin;
use emulators::runtime::{RuntimeEmulation, RuntimeRoute};
use tenant_context::TierCatalog;
use testkit::cognito::LocalPool;

use crate::faults::{Faults, Service};
use crate::{Progress, StackError, setup};

const GUARDRAIL_ID: &str = emulators::guardrail::LOCAL_GUARDRAIL_ID;
const GUARDRAIL_VERSION: &str = emulators::guardrail::LOCAL_GUARDRAIL_VERSION;

/// Everything behind the Runtime; dropping it stops the agents and the emulations.
pub struct AssistantStack {
    pub runtime: RuntimeEmulation,
    pub guardrail: GuardrailEmulation,
    /// Knowledge Base Retrieve for the tool-target function (its environment names it).
    pub knowledge_base: KnowledgeBaseEmulation,
    /// StartIngestionJob and GetIngestionJob over the same knowledge bases (tier changes).
    pub ingestion: IngestionEmulation,
    pub memory: MemoryEmulation,
    pub model: ModelStandin,
    /// (tier, Gateway emulation), in tier file order.
    pub gateways: Vec<(String, GatewayEmulation)>,
    /// (tier, the agent process, its log file).
    pub agents: Vec<(String, AgentProcess, std::path::PathBuf)>,
}

/// What the assistant needs from the rest of the stack.
pub struct Inputs<'a> {
    pub pool: &'a LocalPool,
    pub lambda: &'a aws_sdk_lambda::Client,
    /// The Lambda Invoke API serving the agents' token vending deployment.
    pub memory_vending_url: &'a str,
    /// (tier, runtime ARN) for every tier of the tier file.
    pub runtime_arns: &'a [(String, String)],
    /// The key request-proxy issues session ids with; the agents check them with it.
    pub session_key: &'a str,
    pub agent_binary: &'a Path,
    pub run_dir: &'a Path,
    /// A real model server; `None`: the model stand-in.
    pub model: Option<&'a ModelServer>,
    pub endpoints: &'a testkit::Endpoints,
    /// The stack's name prefix (the document buckets are named after it, as deployed).
    pub prefix: &'a str,
    /// The user pool's keys, as every verifier reaches them (possibly through a fault proxy).
    pub jwks_url: &'a str,
    pub faults: &'a Faults,
    /// The per-clinic daily usage table, and DynamoDB as the agents reach it.
    pub usage_table: &'a str,
    /// The budget alerts' topic (SNS on moto).
    pub budget_topic: &'a str,
    /// The PHI access audit trail's log group (CloudWatch Logs on moto).
    pub audit_group: &'a str,
    /// The tenant registry tenant-admin wrote (the agents check the caller's clinic in it).
    pub registry_table: &'a str,
    pub dynamodb_url: &'a str,
}

/// A tier's document bucket, named as the template names it.
pub fn documents_bucket(prefix: &str, tier: &str) -> String {
    format!(
        "{prefix}-docs-123456789012-{}-{tier}",
        testkit::STANDIN_REGION
    )
}

/// Any OpenAI-compatible server with tool calling (llama.cpp, vLLM, Ollama), for the agents
/// instead of the model stand-in: `TENANTRY_DEV_MODEL_BASE_URL` (e.g.
/// `http://127.0.0.1:11434/v1`), `TENANTRY_DEV_MODEL_ID` (a model it serves; default: the tier
/// file's ids) and `TENANTRY_DEV_MODEL_API_KEY` (if it wants one).
#[derive(Debug, Clone)]
pub struct ModelServer {
    pub base_url: String,
    pub model_id: Option<String>,
    pub api_key: Option<String>,
}

pub const ENV_DEV_MODEL_BASE_URL: &str = "TENANTRY_DEV_MODEL_BASE_URL";
pub const ENV_DEV_MODEL_ID: &str = "TENANTRY_DEV_MODEL_ID";
pub const ENV_DEV_MODEL_API_KEY: &str = "TENANTRY_DEV_MODEL_API_KEY";

impl ModelServer {
    pub fn from_env() -> Result<Option<Self>, StackError> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Ok(get(ENV_DEV_MODEL_BASE_URL).map(|base_url| Self {
            base_url,
            model_id: get(ENV_DEV_MODEL_ID),
            api_key: get(ENV_DEV_MODEL_API_KEY),
        }))
    }
}

fn failed<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> StackError + '_ {
    move |e| StackError::Setup {
        what: format!("{what}: {e}"),
    }
}

/// Starts, per tier of the tier file, a Gateway emulation and the agent binary, then the
/// Runtime emulation routing each tier's ARN to its agent.
pub async fn start(
    inputs: Inputs<'_>,
    progress: &mut Progress<'_>,
) -> Result<AssistantStack, StackError> {
    let catalog = TierCatalog::embedded()?;
    let model = ModelStandin::start(0)
        .await
        .map_err(failed("model stand-in"))?;
    let memory = MemoryEmulation::start(definitions(&catalog, setup::memory_id), 0)
        .await
        .map_err(failed("Memory emulation"))?;
    let guardrail = GuardrailEmulation::start(GUARDRAIL_ID, GUARDRAIL_VERSION, 0)
        .await
        .map_err(failed("guardrail emulation"))?;
    // The documents go to the S3 stand-in in the deployed layout; the knowledge bases sync
    // from there.
    let s3 = testkit::s3::LocalS3::new(inputs.endpoints);
    let sources =
        upload_demo_documents(&s3, &catalog, |tier| documents_bucket(inputs.prefix, tier))
            .await
            .map_err(failed("upload the demo documents to the S3 stand-in"))?;
    let buckets: Vec<String> = sources.iter().map(|s| s.bucket.clone()).collect();
    let knowledge_base = KnowledgeBaseEmulation::start(sources, 0)
        .await
        .map_err(failed("Knowledge Base emulation"))?;
    let ingestion = IngestionEmulation::start(
        &knowledge_base,
        catalog
            .iter()
            .map(|(tier, _)| {
                (
                    demo_knowledge_base_id(tier.as_str()),
                    demo_data_source_id(tier.as_str()),
                )
            })
            .collect(),
        0,
    )
    .await
    .map_err(failed("Knowledge Base ingestion emulation"))?;
    let mut gateways = Vec::new();
    let mut agents = Vec::new();
    let mut routes = Vec::new();
    for (tier, _) in catalog.iter() {
        let gateway = GatewayEmulation::start(
            tier.clone(),
            &catalog,
            Arc::new(LambdaBackend {
                client: inputs.lambda.clone(),
                function: "tool-target".into(),
            }),
            0,
        )
        .await
        .map_err(|e| StackError::Setup {
            what: format!("Gateway emulation for {tier}: {e}"),
        })?;
        let port = free_port()?;
        let pool = inputs.pool;
        let faults = inputs.faults;
        let model_url = inputs
            .model
            .map_or_else(|| model.base_url(), |m| m.base_url.clone());
        let mut env = vec![
            ("TENANTRY_TIER", tier.to_string()),
            ("TENANTRY_SESSION_KEY", inputs.session_key.to_owned()),
            (
                "TENANTRY_MODEL_BASE_URL",
                faults.route(Service::Model, &model_url).await?,
            ),
            ("TENANTRY_BEDROCK_PROJECT_ID", format!("proj_local_{tier}")),
            (
                "TENANTRY_GATEWAY_URL",
                faults.route(Service::Gateway, &gateway.url()).await?,
            ),
            ("TENANTRY_TOKEN_ISSUER", pool.issuer.clone()),
            ("TENANTRY_TOKEN_AUDIENCE", pool.client_id.clone()),
            ("TENANTRY_JWKS_URL", inputs.jwks_url.to_owned()),
            // Memory, with each user's memory-scoped credentials from the agents' own
            // deployment of the real token-vending function (STS on moto behind it).
            ("TENANTRY_MEMORY_ID", setup::memory_id(tier.as_str())),
            (
                "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
                faults.route(Service::Memory, &memory.endpoint()).await?,
            ),
            // The tier file gives both tiers a guardrail: the agents do not start without one.
            ("TENANTRY_GUARDRAIL_ID", GUARDRAIL_ID.to_owned()),
            ("TENANTRY_GUARDRAIL_VERSION", GUARDRAIL_VERSION.to_owned()),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", guardrail.endpoint()),
            ("TENANTRY_CREDENTIALS_SOURCE", "vending-function".to_owned()),
            ("TENANTRY_TVM_FUNCTION", setup::MEMORY_VENDING.to_owned()),
            (
                "AWS_ENDPOINT_URL_LAMBDA",
                inputs.memory_vending_url.to_owned(),
            ),
            // Each turn's tokens and cost into the clinic's day (the runtime's own role).
            (usage_meter::ENV_USAGE_TABLE, inputs.usage_table.to_owned()),
            // The clinics' budget alerts, published to the SNS stand-in (moto keeps them).
            (
                agent_runtime::config::ENV_BUDGET_ALERT_TOPIC,
                inputs.budget_topic.to_owned(),
            ),
            ("AWS_ENDPOINT_URL_SNS", inputs.endpoints.moto_url.clone()),
            // The audit trail: memory recalls and the Gateway's policy denials (CloudWatch Logs
            // on moto, through the same fault proxy as the functions').
            (
                audit_trail::ENV_AUDIT_LOG_GROUP,
                inputs.audit_group.to_owned(),
            ),
            (
                "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
                inputs
                    .faults
                    .route(Service::AuditLog, &inputs.endpoints.moto_url)
                    .await?,
            ),
            // A suspended clinic is refused by the agents too (their own registry read).
            (
                tenant_registry::ENV_REGISTRY_TABLE,
                inputs.registry_table.to_owned(),
            ),
            (
                tenant_registry::ENV_REGISTRY_CACHE_SECS,
                setup::REGISTRY_CACHE_SECS.to_owned(),
            ),
            ("AWS_ENDPOINT_URL_DYNAMODB", inputs.dynamodb_url.to_owned()),
            ("AWS_REGION", testkit::STANDIN_REGION.to_owned()),
        ];
        // The runtime role's local stand-in: the only principal the tier's Gateway lets in.
        env.extend(emulators::iam::LocalPrincipal::runtime(tier.as_str()).env());
        if let Some(m) = inputs.model {
            if let Some(id) = &m.model_id {
                env.push(("TENANTRY_MODEL_ID", id.clone()));
            }
            if let Some(key) = &m.api_key {
                env.push(("TENANTRY_MODEL_API_KEY", key.clone()));
            }
        }
        let log = inputs.run_dir.join(format!("agent-runtime-{tier}.log"));
        let agent = AgentProcess::start(
            inputs.agent_binary,
            port,
            &env,
            &log,
            Some(&inputs.run_dir.join(format!("agent-runtime-{tier}.pid"))),
        )
        .await?;
        let arn = inputs
            .runtime_arns
            .iter()
            .find(|(t, _)| t == tier.as_str())
            .map(|(_, a)| a.clone())
            .ok_or_else(|| StackError::Setup {
                what: format!("no runtime ARN for tier {tier}"),
            })?;
        progress(&format!(
            "{tier:<8} agent-runtime (real binary) at {}; AgentCore Gateway EMULATION at {}",
            agent.url(),
            gateway.url()
        ));
        routes.push(RuntimeRoute {
            arn,
            agent_url: agent.url().to_owned(),
            tier: tier.clone(),
        });
        gateways.push((tier.to_string(), gateway));
        agents.push((tier.to_string(), agent, log));
    }
    // IAM inbound auth: only request-proxy's role may invoke the runtimes.
    let tiers: Vec<&str> = catalog.iter().map(|(t, _)| t.as_str()).collect();
    let iam = emulators::iam::SigV4Check::new(
        "bedrock-agentcore",
        testkit::STANDIN_REGION,
        &[emulators::iam::LocalPrincipal::request_proxy()],
        &tiers,
    );
    let runtime = RuntimeEmulation::start(routes, iam, 0)
        .await
        .map_err(failed("Runtime emulation"))?;
    progress(&format!(
        "AgentCore Runtime EMULATION at {} (IAM inbound auth: request-proxy's role only; routes by runtime ARN)",
        runtime.endpoint()
    ));
    match inputs.model {
        None => progress(&format!(
            "model: LOCAL MODEL STAND-IN at {} (deterministic, not a language model)",
            model.base_url()
        )),
        Some(m) => progress(&format!(
            "model: YOUR MODEL SERVER at {} ({}; the stand-in at {} is unused)",
            m.base_url,
            m.model_id.as_deref().unwrap_or("the tier file's model ids"),
            model.base_url()
        )),
    }
    progress(&format!(
        "AgentCore Memory EMULATION at {} (events newest first as on AWS; no IAM evaluation)",
        memory.endpoint()
    ));
    progress(&format!(
        "Knowledge Base EMULATION at {} (BM25, one base per tier, synced from s3://{} on the moto STAND-IN)",
        knowledge_base.endpoint(),
        buckets.join(", s3://")
    ));
    progress(&format!(
        "Bedrock Guardrails EMULATION at {} (two fixed rules, not Bedrock's classifiers)",
        guardrail.endpoint()
    ));
    progress(&format!(
        "Knowledge Base ingestion EMULATION at {} (StartIngestionJob syncs again from the bucket)",
        ingestion.endpoint()
    ));
    Ok(AssistantStack {
        runtime,
        guardrail,
        knowledge_base,
        ingestion,
        memory,
        model,
        gateways,
        agents,
    })
}

/// The tool-target function's variables for the Knowledge Base emulation and web search.
pub async fn knowledge_base_env(
    stack: &AssistantStack,
    faults: &Faults,
) -> Result<Vec<(String, String)>, StackError> {
    let mut env = vec![
        (
            "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME".to_owned(),
            faults
                .route(Service::KnowledgeBase, &stack.knowledge_base.endpoint())
                .await?,
        ),
        // Premium web search: the labelled offline provider (no network here).
        (
            tool_target::web_search::ENV_WEB_SEARCH.to_owned(),
            "offline".to_owned(),
        ),
    ];
    for (tier, _) in TierCatalog::embedded()?.iter() {
        env.push((
            format!(
                "{}{}",
                tool_target::config::ENV_KNOWLEDGE_BASE_PREFIX,
                tier.as_str().to_ascii_uppercase()
            ),
            emulators::knowledge_base::demo_knowledge_base_id(tier.as_str()),
        ));
    }
    Ok(env)
}
