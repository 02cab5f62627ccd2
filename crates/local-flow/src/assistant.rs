//! The assistant's side of the local flow: the real `agent-runtime` binary of each tier behind
//! the AgentCore Runtime emulation, the model stand-in, and an AgentCore Gateway emulation per
//! tier in front of the real `tool-target` function on the Lambda stand-in.

use std::sync::Arc;

use serde_json::Value;
use standins::agent::{AgentProcess, free_port};
use standins::cognito::LocalPool;
use standins::gateway::{GatewayEmulation, LambdaBackend};
use standins::guardrail::GuardrailEmulation;
use standins::knowledge_base::{KnowledgeBaseEmulation, demo_sources};
use standins::memory::{MemoryEmulation, definitions};
use standins::model::ModelStandin;
use standins::runtime::{RuntimeEmulation, RuntimeRoute};
use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};

use crate::flow::{FlowError, ask};

const GUARDRAIL_ID: &str = "tenantry-local-guardrail";
const GUARDRAIL_VERSION: &str = "1";

/// Everything the questions need; dropping it stops the agents and the emulations.
pub struct AssistantStack {
    pub runtime: RuntimeEmulation,
    _guardrail: GuardrailEmulation,
    /// Knowledge Base Retrieve for the tool-target function (its environment names it).
    pub knowledge_base: KnowledgeBaseEmulation,
    _memory: MemoryEmulation,
    _model: ModelStandin,
    _gateways: Vec<GatewayEmulation>,
    _agents: Vec<AgentProcess>,
}

fn verifier(pool: &LocalPool) -> Result<Arc<TokenVerifier>, FlowError> {
    Ok(Arc::new(TokenVerifier::new(
        VerifierConfig::new(&pool.issuer, &pool.client_id, &pool.jwks_url)?,
        TierCatalog::embedded()?,
    )?))
}

/// Starts, per tier of the tier file, a Gateway emulation and the agent binary, then the
/// Runtime emulation routing each tier's ARN to its agent. `session_key` is the key the
/// request-proxy function gets too.
pub async fn start(
    pool: &LocalPool,
    lambda: &aws_sdk_lambda::Client,
    lambda_url: &str,
    runtime_arns: &[(String, String)],
    session_key: &str,
) -> Result<AssistantStack, FlowError> {
    let catalog = TierCatalog::embedded()?;
    let model = ModelStandin::start(0)
        .await
        .map_err(|e| FlowError::Unexpected {
            what: format!("model stand-in: {e}"),
        })?;
    let workspace = std::env::current_dir().map_err(|e| FlowError::Unexpected {
        what: format!("no current directory: {e}"),
    })?;
    let run_dir = workspace.join(".tools/run");
    let binary = std::env::current_exe()
        .map_err(|e| FlowError::Unexpected {
            what: format!("cannot locate the build directory: {e}"),
        })?
        .with_file_name("agent-runtime");
    let memory = MemoryEmulation::start(definitions(&catalog, memory_id), 0)
        .await
        .map_err(|e| FlowError::Unexpected {
            what: format!("Memory emulation: {e}"),
        })?;
    let guardrail = GuardrailEmulation::start(GUARDRAIL_ID, GUARDRAIL_VERSION, 0)
        .await
        .map_err(|e| FlowError::Unexpected {
            what: format!("guardrail emulation: {e}"),
        })?;
    let knowledge_base = KnowledgeBaseEmulation::start(demo_sources(&catalog), 0)
        .await
        .map_err(|e| FlowError::Unexpected {
            what: format!("Knowledge Base emulation: {e}"),
        })?;
    let mut gateways = Vec::new();
    let mut agents = Vec::new();
    let mut routes = Vec::new();
    for (tier, _) in catalog.iter() {
        let gateway = GatewayEmulation::start(
            tier.clone(),
            &catalog,
            verifier(pool)?,
            Arc::new(LambdaBackend {
                client: lambda.clone(),
                function: "tool-target".into(),
            }),
            0,
        )
        .await
        .map_err(|e| FlowError::Unexpected {
            what: format!("Gateway emulation for {tier}: {e}"),
        })?;
        let port = free_port()?;
        let env = [
            ("TENANTRY_TIER", tier.to_string()),
            ("TENANTRY_SESSION_KEY", session_key.to_owned()),
            ("TENANTRY_MODEL_BASE_URL", model.base_url()),
            ("TENANTRY_BEDROCK_PROJECT_ID", format!("proj_local_{tier}")),
            ("TENANTRY_GATEWAY_URL", gateway.url()),
            ("TENANTRY_TOKEN_ISSUER", pool.issuer.clone()),
            ("TENANTRY_TOKEN_AUDIENCE", pool.client_id.clone()),
            ("TENANTRY_JWKS_URL", pool.jwks_url.clone()),
            // Memory, with each user's memory-scoped credentials from the real token-vending
            // function on the Lambda stand-in (STS on moto behind it).
            ("TENANTRY_MEMORY_ID", memory_id(tier.as_str())),
            ("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", memory.endpoint()),
            // The tier file gives both tiers a guardrail: the agents do not start without one.
            ("TENANTRY_GUARDRAIL_ID", GUARDRAIL_ID.to_owned()),
            ("TENANTRY_GUARDRAIL_VERSION", GUARDRAIL_VERSION.to_owned()),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", guardrail.endpoint()),
            ("TENANTRY_CREDENTIALS_SOURCE", "vending-function".to_owned()),
            ("TENANTRY_TVM_FUNCTION", "token-vending".to_owned()),
            ("AWS_ENDPOINT_URL_LAMBDA", lambda_url.to_owned()),
            ("AWS_REGION", standins::STANDIN_REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "standin".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "standin".to_owned()),
        ];
        let agent = AgentProcess::start(
            &binary,
            port,
            &env,
            &run_dir.join(format!("agent-runtime-{tier}.log")),
            Some(&run_dir.join(format!("agent-runtime-{tier}.pid"))),
        )
        .await?;
        let arn = runtime_arns
            .iter()
            .find(|(t, _)| t == tier.as_str())
            .map(|(_, a)| a.clone())
            .ok_or_else(|| FlowError::Unexpected {
                what: format!("no runtime ARN for tier {tier}"),
            })?;
        println!(
            "    {tier:<8} agent-runtime (real binary) at {}; Gateway EMULATION at {}",
            agent.url(),
            gateway.url()
        );
        routes.push(RuntimeRoute {
            arn,
            agent_url: agent.url().to_owned(),
        });
        gateways.push(gateway);
        agents.push(agent);
    }
    let runtime = RuntimeEmulation::start(routes, verifier(pool)?, 0)
        .await
        .map_err(|e| FlowError::Unexpected {
            what: format!("Runtime emulation: {e}"),
        })?;
    println!(
        "    AgentCore Runtime EMULATION at {} (JWT authorizer, routes by runtime ARN)",
        runtime.endpoint()
    );
    println!(
        "    model: LOCAL MODEL STAND-IN at {} (deterministic, not a language model)",
        model.base_url()
    );
    println!(
        "    AgentCore Memory EMULATION at {} (events newest first as on AWS; no IAM evaluation)",
        memory.endpoint()
    );
    println!(
        "    Knowledge Base EMULATION at {} (BM25 over infra/demo-documents, one base per tier)",
        knowledge_base.endpoint()
    );
    println!(
        "    Bedrock Guardrails EMULATION at {} (two fixed rules, not Bedrock's classifiers)",
        guardrail.endpoint()
    );
    Ok(AssistantStack {
        runtime,
        _guardrail: guardrail,
        knowledge_base,
        _memory: memory,
        _model: model,
        _gateways: gateways,
        _agents: agents,
    })
}

/// Memory and session ownership through the front door: hospital-x's user continues a
/// conversation (the agent recalls the earlier turn from AgentCore Memory), then clinic-a's
/// user presents that session id and is refused before any agent runs.
pub async fn follow_up(
    lambda: &aws_sdk_lambda::Client,
    token_x: &str,
    token_a: &str,
) -> Result<(), FlowError> {
    crate::flow::step("Memory: a follow-up in the same session, and the session kept to its user");
    let first = ask(
        lambda,
        token_x,
        "Remember that our cardiology ward moved to level 4",
        None,
    )
    .await?;
    let session = first.session.ok_or_else(|| FlowError::Unexpected {
        what: "request-proxy returned no session id".into(),
    })?;
    let later = ask(
        lambda,
        token_x,
        "What did I tell you earlier?",
        Some(&session),
    )
    .await?;
    let answer = later.body["answer"].as_str().unwrap_or_default();
    println!(
        "    hospital-x, same session: \"What did I tell you earlier?\"  -> HTTP {}, memory {}",
        later.status, later.body["memory"]
    );
    println!("        answer: {}", shorten(answer, 260));
    if later.status != 200 || !answer.contains("cardiology ward moved to level 4") {
        return Err(FlowError::Unexpected {
            what: format!(
                "the follow-up should recall the earlier turn: {}",
                later.body
            ),
        });
    }
    let stolen = ask(
        lambda,
        token_a,
        "What did they tell you earlier?",
        Some(&session),
    )
    .await?;
    println!(
        "    clinic-a presenting hospital-x's session id -> HTTP {} {}",
        stolen.status, stolen.body["error"]["code"]
    );
    if stolen.status != 403 || stolen.body["error"]["code"] != "session_not_owned" {
        return Err(FlowError::Unexpected {
            what: format!("another user's session id must be refused: {}", stolen.body),
        });
    }
    Ok(())
}

/// The tool-target function's variables for the Knowledge Base emulation and web search.
pub fn knowledge_base_env(stack: &AssistantStack) -> Result<Vec<(String, String)>, FlowError> {
    let mut env = vec![
        (
            "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME".to_owned(),
            stack.knowledge_base.endpoint(),
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
            standins::knowledge_base::demo_knowledge_base_id(tier.as_str()),
        ));
    }
    Ok(env)
}

/// The agent's answer from request-proxy's reply body: one JSON object, or (when the agent
/// streamed) its Server-Sent Events folded into the same shape.
pub fn agent_reply(body: &str) -> Value {
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(body) {
        return v;
    }
    let mut answer = String::new();
    let mut tool_calls = Vec::new();
    let mut reply = serde_json::Map::new();
    for frame in body.split("\n\n") {
        let Some(event) = frame
            .strip_prefix("data: ")
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
        else {
            continue;
        };
        match event["type"].as_str() {
            Some("text_delta") => answer.push_str(event["text"].as_str().unwrap_or_default()),
            Some("tool_end") => tool_calls.push(event),
            Some("final") | Some("error") => {
                if let Value::Object(m) = event {
                    reply.extend(m);
                }
            }
            _ => {}
        }
    }
    reply.insert("answer".into(), answer.into());
    reply.insert("tool_calls".into(), tool_calls.into());
    Value::Object(reply)
}

fn memory_id(tier: &str) -> String {
    format!("tenantry_{tier}_memory-LOCAL")
}

/// The agent's JSON reply, summarised for the flow's output.
pub fn describe(reply: &Value) -> String {
    let tools: Vec<String> = reply["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| {
                    format!(
                        "{}:{}",
                        c["tool"].as_str().unwrap_or("?"),
                        c["status"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "tools [{}], {} tokens, est. {} {:.6}\n        answer: {}",
        tools.join(", "),
        reply["usage"]["total_tokens"],
        reply["usage"]["currency"].as_str().unwrap_or(""),
        reply["usage"]["estimated_cost"].as_f64().unwrap_or(0.0),
        shorten(reply["answer"].as_str().unwrap_or("?"), 260)
    )
}

/// At most `max` characters, with an ellipsis when cut (the flow prints answers on one line).
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}...")
}
