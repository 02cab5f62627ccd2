//! Configuration, read once at start-up. Nothing a request carries can change any of it.

use std::net::SocketAddr;
use std::time::Duration;

use secret_config::{SecretSource, SecretVars};
use tenant_context::{
    RecallRules, SessionBinder, TierCatalog, TierConfig, TierName, VerifierConfig,
};

pub const ENV_TIER: &str = "TENANTRY_TIER";
/// The session key, the same as request-proxy's: inline (local) or an SSM SecureString.
pub const SESSION_KEY_VARS: SecretVars = SecretVars {
    inline: "TENANTRY_SESSION_KEY",
    parameter: "TENANTRY_SESSION_KEY_PARAMETER",
    secure: true,
    required: true,
};
/// The tier's Bedrock project id (`proj_...`): inline, or the SSM parameter
/// `scripts/bedrock-projects.sh` writes (the tier file's `bedrock_project.ssm_parameter`).
pub const BEDROCK_PROJECT_VARS: SecretVars = SecretVars {
    inline: "TENANTRY_BEDROCK_PROJECT_ID",
    parameter: "TENANTRY_BEDROCK_PROJECT_PARAMETER",
    secure: false,
    // Cost attribution only: the agent starts without it (`load_project`).
    required: false,
};
pub const ENV_MODEL_BASE_URL: &str = "TENANTRY_MODEL_BASE_URL";
/// A fixed bearer key for the model endpoint (a local server that wants one).
pub const ENV_MODEL_API_KEY: &str = "TENANTRY_MODEL_API_KEY";
/// `role`: short-term Bedrock API keys minted from the process's own role (deployed). Unset:
/// `TENANTRY_MODEL_API_KEY` if set, else no authentication (the local stand-in, Ollama).
pub const ENV_MODEL_AUTH: &str = "TENANTRY_MODEL_AUTH";
pub const MODEL_AUTH_ROLE: &str = "role";
pub const ENV_MODEL_ID: &str = "TENANTRY_MODEL_ID";
pub const ENV_GATEWAY_URL: &str = "TENANTRY_GATEWAY_URL";
/// The tier's guardrail (required when the tier file gives the tier one).
pub const ENV_GUARDRAIL_ID: &str = "TENANTRY_GUARDRAIL_ID";
/// Its version; default `DRAFT` (deployments pin a numbered version).
pub const ENV_GUARDRAIL_VERSION: &str = "TENANTRY_GUARDRAIL_VERSION";
/// The tier's AgentCore Memory id; unset: no memory (the answer says `memory: off`).
pub const ENV_MEMORY_ID: &str = "TENANTRY_MEMORY_ID";
pub const ENV_LISTEN_ADDR: &str = "TENANTRY_LISTEN_ADDR";
pub const ENV_MAX_ROUNDS: &str = "TENANTRY_MAX_ROUNDS";
pub const ENV_MAX_TOKENS: &str = "TENANTRY_MAX_TOKENS_PER_REQUEST";
pub const ENV_MAX_OUTPUT_TOKENS: &str = "TENANTRY_MAX_OUTPUT_TOKENS";
pub const ENV_MAX_PROMPT_BYTES: &str = "TENANTRY_MAX_PROMPT_BYTES";
pub const ENV_DEADLINE_SECS: &str = "TENANTRY_INVOCATION_DEADLINE_SECS";
pub const ENV_MODEL_TIMEOUT_SECS: &str = "TENANTRY_MODEL_TIMEOUT_SECS";
/// The SNS topic the clinics' budget alerts (80% and 100%) are published to; unset: they are
/// only logged (`budget_alert`).
pub const ENV_BUDGET_ALERT_TOPIC: &str = "TENANTRY_BUDGET_ALERT_TOPIC_ARN";

/// The AgentCore Runtime container contract: port 8080 on every interface.
pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:8080";

/// Why the agent cannot start: one type for every binary's configuration (env-config's).
pub use env_config::ConfigError;

/// Where the model is and how to call it. The model id itself comes from the tier file.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The OpenAI-compatible base URL, ending before `/chat/completions`.
    pub base_url: String,
    pub auth: ModelAuth,
    /// The tier's Bedrock project, sent as `OpenAI-Project` (per-tier cost attribution);
    /// filled from `Config::project` by `Config::load_parameters`.
    pub project: Option<String>,
    /// The model id sent: the tier file's, unless overridden for a local model server.
    pub model_id: String,
    pub attempt_timeout: Duration,
}

/// How the agent authenticates to the model endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum ModelAuth {
    None,
    /// A fixed key from configuration.
    ApiKey(String),
    /// Short-term Bedrock API keys from the role: no long-lived secret anywhere.
    Role,
}

impl std::fmt::Debug for ModelAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::ApiKey(_) => "ApiKey(<redacted>)",
            Self::Role => "Role",
        })
    }
}

/// Caps on one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_rounds: u32,
    /// Input plus output tokens, summed over the model rounds of one invocation.
    pub max_tokens: u64,
    /// `max_tokens` sent with each model call.
    pub max_output_tokens: u32,
    pub max_prompt_bytes: usize,
    /// The whole invocation, retries included.
    pub deadline: Duration,
}

/// Memory: which one, and how the agent gets each user's memory-scoped credentials (the
/// token vending machine; `TENANTRY_CREDENTIALS_SOURCE` and its variables).
#[derive(Debug, Clone)]
pub struct MemorySettings {
    pub memory_id: String,
    pub credentials: scoped_credentials::IssuerConfig,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub tier: TierName,
    pub tier_config: TierConfig,
    /// What memory may keep and give back under the tier's rules.
    pub recall_rules: RecallRules,
    pub verifier: VerifierConfig,
    /// Resolved into a `SessionBinder` by `load_parameters`.
    pub session_key: SecretSource,
    pub project: Option<SecretSource>,
    pub model: ModelConfig,
    /// The tier's AgentCore Gateway MCP endpoint (`https://.../mcp`).
    pub gateway_url: String,
    pub memory: Option<MemorySettings>,
    /// Set exactly when the tier file gives the tier a guardrail.
    pub guardrail: Option<crate::guardrail::GuardrailSettings>,
    pub listen: SocketAddr,
    pub limits: Limits,
    /// The per-clinic daily usage table (`TENANTRY_USAGE_TABLE`): each turn's tokens and
    /// estimated cost are added to the caller's clinic's day. Unset: not counted.
    pub usage_table: Option<String>,
    /// Turns one user may start per minute (with a usage table).
    pub user_turns_per_minute: u32,
    /// Where budget alerts are published (`TENANTRY_BUDGET_ALERT_TOPIC_ARN`); `None`: logged
    /// only.
    pub budget_alert_topic: Option<String>,
    /// The PHI access audit trail's log group (`TENANTRY_AUDIT_LOG_GROUP`): the agent records
    /// memory recalls that bring records back and the Gateway's policy denials of patient
    /// tools. `None`: not recorded (local runs without the trail).
    pub audit_log_group: Option<String>,
    /// The tenant registry, read with the runtime's role; `None`: not checked (local runs).
    pub registry_table: Option<String>,
    pub registry_cache: Duration,
}

/// `https://`, or `http://` to a loopback host (local stand-ins only), without a trailing `/`.
fn endpoint_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    env_config::secure_endpoint(var, raw)?;
    Ok(raw.trim().trim_end_matches('/').to_owned())
}

impl Config {
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        catalog: &TierCatalog,
    ) -> Result<Self, ConfigError> {
        let set = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        let required =
            |var: &'static str| set(var).ok_or_else(|| ConfigError::new(var, "must be set"));

        let tier_raw = required(ENV_TIER)?;
        let tier = catalog
            .tier(tier_raw.trim())
            .map_err(|_| ConfigError::new(ENV_TIER, "is not a tier of infra/tiers.json"))?;
        let tier_config = catalog.config(&tier)?.clone();
        let recall_rules = catalog.recall_rules(&tier)?;

        let session_key = SESSION_KEY_VARS.source(&get)?;
        // An inline key is checked now; a parameter's value when it is read at start-up.
        if let SecretSource::Inline(key) = &session_key {
            SessionBinder::from_base64(key)
                .map_err(|e| ConfigError::new(SESSION_KEY_VARS.inline, e.to_string()))?;
        }

        let model = ModelConfig {
            base_url: endpoint_url(ENV_MODEL_BASE_URL, &required(ENV_MODEL_BASE_URL)?)?,
            auth: match (set(ENV_MODEL_AUTH), set(ENV_MODEL_API_KEY)) {
                (None, None) => ModelAuth::None,
                (None, Some(key)) => ModelAuth::ApiKey(key.trim().to_owned()),
                (Some(mode), None) if mode.trim() == MODEL_AUTH_ROLE => ModelAuth::Role,
                (Some(_), None) => {
                    return Err(ConfigError::new(
                        ENV_MODEL_AUTH,
                        "must be `role` (or unset)",
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        ENV_MODEL_AUTH,
                        format!("set it or {ENV_MODEL_API_KEY}, not both"),
                    ));
                }
            },
            project: None,
            model_id: set(ENV_MODEL_ID).unwrap_or_else(|| tier_config.model_id.clone()),
            attempt_timeout: Duration::from_secs(env_config::positive_number(
                &get,
                ENV_MODEL_TIMEOUT_SECS,
                60,
            )?),
        };
        let gateway_url = endpoint_url(ENV_GATEWAY_URL, &required(ENV_GATEWAY_URL)?)?;
        let listen = set(ENV_LISTEN_ADDR)
            .unwrap_or_else(|| DEFAULT_LISTEN_ADDR.to_owned())
            .parse()
            .map_err(|_| {
                ConfigError::new(ENV_LISTEN_ADDR, "must be host:port, e.g. 0.0.0.0:8080")
            })?;
        let limits = Limits {
            max_rounds: env_config::positive_number(&get, ENV_MAX_ROUNDS, 6)?.min(32) as u32,
            max_tokens: env_config::positive_number(&get, ENV_MAX_TOKENS, 16_000)?,
            max_output_tokens: env_config::positive_number(&get, ENV_MAX_OUTPUT_TOKENS, 1_024)?
                .min(32_768) as u32,
            max_prompt_bytes: env_config::positive_number(&get, ENV_MAX_PROMPT_BYTES, 16 * 1024)?
                as usize,
            deadline: Duration::from_secs(env_config::positive_number(
                &get,
                ENV_DEADLINE_SECS,
                120,
            )?),
        };
        let memory = match set(ENV_MEMORY_ID) {
            None => None,
            Some(memory_id) => Some(MemorySettings {
                memory_id: memory_id.trim().to_owned(),
                credentials: scoped_credentials::IssuerConfig::from_lookup(&get)?,
            }),
        };
        // The tier file decides whether the tier has a guardrail; a tier that has one does not
        // start without it (no silent fall-back to unchecked answers).
        let guardrail = match (&tier_config.guardrail, set(ENV_GUARDRAIL_ID)) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    ENV_GUARDRAIL_ID,
                    format!("the tier file gives tier `{tier}` a guardrail: set its id"),
                ));
            }
            (Some(_), Some(id)) => Some(crate::guardrail::GuardrailSettings {
                id: id.trim().to_owned(),
                version: set(ENV_GUARDRAIL_VERSION).unwrap_or_else(|| "DRAFT".into()),
            }),
        };
        Ok(Self {
            usage_table: set(usage_meter::ENV_USAGE_TABLE).map(|t| t.trim().to_owned()),
            user_turns_per_minute: env_config::positive_number(
                &get,
                usage_meter::turn_limit::ENV_USER_TURNS_PER_MINUTE,
                u64::from(usage_meter::turn_limit::DEFAULT_USER_TURNS_PER_MINUTE),
            )?
            .min(10_000) as u32,
            registry_table: set(tenant_registry::ENV_REGISTRY_TABLE).map(|t| t.trim().to_owned()),
            audit_log_group: set(audit_trail::ENV_AUDIT_LOG_GROUP).map(|g| g.trim().to_owned()),
            budget_alert_topic: match set(ENV_BUDGET_ALERT_TOPIC) {
                Some(arn) if arn.trim().starts_with("arn:") && arn.contains(":sns:") => {
                    Some(arn.trim().to_owned())
                }
                Some(_) => {
                    return Err(ConfigError::new(
                        ENV_BUDGET_ALERT_TOPIC,
                        "is not an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)",
                    ));
                }
                None => None,
            },
            registry_cache: tenant_registry::cache_lifetime(&get)?,
            guardrail,
            memory,
            verifier: VerifierConfig::from_lookup(&get)?,
            tier,
            tier_config,
            recall_rules,
            session_key,
            project: BEDROCK_PROJECT_VARS.optional_source(&get)?,
            model,
            gateway_url,
            listen,
            limits,
        })
    }
}

impl Config {
    /// Reads what deployments keep in SSM (the session key, the Bedrock project id; no AWS
    /// call when both are inline) and returns the session binder.
    pub async fn load_parameters(&mut self) -> Result<SessionBinder, ConfigError> {
        if let Some(source) = self.project.take() {
            self.model.project = load_project(source).await;
        }
        let key = SESSION_KEY_VARS.load(self.session_key.clone()).await?;
        SessionBinder::from_base64(&key)
            .map_err(|e| ConfigError::new(SESSION_KEY_VARS.parameter, e.to_string()))
    }
}

/// The agent starts without the tier's Bedrock project rather than exit before `/ping` (every
/// new session's container would), and says so: its role may infer only in the tier's own
/// project (its data retention mode, its costs), so AWS refuses its model calls until the
/// project exists. Each runtime session starts a new container, so the first session after
/// `scripts/bedrock-projects.sh` has created the parameter carries the project.
async fn load_project(source: SecretSource) -> Option<String> {
    let name = match &source {
        SecretSource::Parameter(name) => name.clone(),
        SecretSource::Inline(_) => String::new(),
    };
    match BEDROCK_PROJECT_VARS.load_if_present(source).await {
        Ok(Some(project)) => Some(project),
        Ok(None) => {
            tracing::warn!(
                parameter = %name,
                "the tier's Bedrock project parameter does not exist: model calls carry no \
                 project and are refused (the role may infer only in the tier's project); \
                 scripts/bedrock-projects.sh creates it"
            );
            None
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                "the tier's Bedrock project could not be read: model calls carry no project \
                 and are refused (the role may infer only in the tier's project)"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            (ENV_TIER, "basic"),
            (
                "TENANTRY_SESSION_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ),
            (ENV_MODEL_BASE_URL, "http://127.0.0.1:9/v1"),
            (ENV_GATEWAY_URL, "http://127.0.0.1:9/mcp"),
            ("TENANTRY_TOKEN_ISSUER", "https://issuer.example"),
            ("TENANTRY_TOKEN_AUDIENCE", "client"),
            ("TENANTRY_JWKS_URL", "http://127.0.0.1:9/jwks"),
            (ENV_GUARDRAIL_ID, "gr-local"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        for (k, v) in extra {
            m.insert((*k).into(), (*v).into());
        }
        m
    }

    fn load(m: &HashMap<String, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| m.get(k).cloned(), &TierCatalog::embedded().unwrap())
    }

    #[test]
    fn the_model_id_comes_from_the_tier_file() {
        let c = load(&env(&[])).unwrap();
        assert_eq!(c.model.model_id, c.tier_config.model_id);
        assert_eq!(c.listen.port(), 8080);
        let c = load(&env(&[(ENV_TIER, "premium"), (ENV_MODEL_ID, "llama3.1")])).unwrap();
        assert_eq!(c.model.model_id, "llama3.1");
    }

    #[test]
    fn no_default_tier_and_no_unknown_tier() {
        let mut m = env(&[]);
        m.remove(ENV_TIER);
        assert!(load(&m).unwrap_err().to_string().contains(ENV_TIER));
        assert!(load(&env(&[(ENV_TIER, "gold")])).is_err());
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        for bad in ["http://model.example/v1", "ftp://127.0.0.1/v1", "not a url"] {
            assert!(load(&env(&[(ENV_MODEL_BASE_URL, bad)])).is_err(), "{bad}");
        }
        for ok in [
            "https://bedrock-mantle.us-east-1.api.aws/v1",
            "http://localhost:11434/v1",
            "http://[::1]:8000/v1",
        ] {
            assert!(load(&env(&[(ENV_MODEL_BASE_URL, ok)])).is_ok(), "{ok}");
        }
    }

    #[test]
    fn model_auth_is_one_of_none_a_key_or_the_role() {
        assert_eq!(load(&env(&[])).unwrap().model.auth, ModelAuth::None);
        let c = load(&env(&[(ENV_MODEL_API_KEY, "sk-local")])).unwrap();
        assert_eq!(c.model.auth, ModelAuth::ApiKey("sk-local".into()));
        assert!(
            !format!("{c:?}").contains("sk-local"),
            "the key stays out of Debug"
        );
        let c = load(&env(&[(ENV_MODEL_AUTH, "role")])).unwrap();
        assert_eq!(c.model.auth, ModelAuth::Role);
        assert!(load(&env(&[(ENV_MODEL_AUTH, "sigv4")])).is_err());
        assert!(load(&env(&[(ENV_MODEL_AUTH, "role"), (ENV_MODEL_API_KEY, "k")])).is_err());
    }

    #[test]
    fn a_tier_with_a_guardrail_does_not_start_without_one() {
        let mut m = env(&[]);
        m.remove(ENV_GUARDRAIL_ID);
        assert!(load(&m).unwrap_err().to_string().contains(ENV_GUARDRAIL_ID));
        let c = load(&env(&[])).unwrap();
        assert_eq!(c.guardrail.unwrap().version, "DRAFT");
    }

    #[test]
    fn the_session_key_is_required_and_long_enough() {
        let mut m = env(&[]);
        m.remove("TENANTRY_SESSION_KEY");
        assert!(load(&m).is_err());
        assert!(load(&env(&[("TENANTRY_SESSION_KEY", "c2hvcnQ=")])).is_err());
    }
}
