//! Configuration, read once at start-up.

use std::collections::BTreeMap;
use std::time::Duration;

use secret_config::{SecretSource, SecretVars};
use tenant_context::{TierCatalog, TierName};

use env_config::ConfigError;

/// Prefix of the per-tier variables: `TENANTRY_RUNTIME_ARN_BASIC`, `..._PREMIUM`, ...
pub const ENV_RUNTIME_ARN_PREFIX: &str = "TENANTRY_RUNTIME_ARN_";
pub const ENV_RUNTIME_ENDPOINT: &str = "TENANTRY_RUNTIME_ENDPOINT";
pub const ENV_MAX_PROMPT_BYTES: &str = "TENANTRY_MAX_PROMPT_BYTES";
/// The default prompt limit: with the JSON around it, a body fits the 16 KiB that AWS WAF
/// inspects of an API Gateway request by default, so the WAF's body-size rule and this limit
/// are one limit (the template checks they agree).
pub const DEFAULT_MAX_PROMPT_BYTES: usize = 15 * 1024;
/// Room for the JSON around the prompt (`{"prompt": ..., "session_id": ...}`).
pub const BODY_ENVELOPE_BYTES: usize = 1024;

/// The largest body the proxy reads for a prompt limit.
pub const fn max_body_bytes(max_prompt_bytes: usize) -> usize {
    max_prompt_bytes + BODY_ENVELOPE_BYTES
}
pub const ENV_TIMEOUT_SECS: &str = "TENANTRY_RUNTIME_TIMEOUT_SECS";
pub const ENV_MAX_RESPONSE_BYTES: &str = "TENANTRY_MAX_RESPONSE_BYTES";
/// `buffered` (default: API Gateway's classic Lambda proxy integration) or `stream` (the
/// integration's response transfer mode STREAM: the function answers with Lambda response
/// streaming and the agent's events reach the caller as they happen). Must match the API.
pub const ENV_RESPONSE_MODE: &str = "TENANTRY_RESPONSE_MODE";

/// How the function answers API Gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// One proxy response object, the agent's reply buffered (at most `max_response_bytes`).
    Buffered,
    /// Lambda response streaming: metadata, then the agent's bytes as they come.
    Stream,
}
/// The runtime session key (base64, at least 32 bytes), shared with the agent runtimes: inline
/// (local runs) or the name of an SSM SecureString holding it (deployments).
pub const SESSION_KEY_VARS: SecretVars = SecretVars {
    inline: "TENANTRY_SESSION_KEY",
    parameter: "TENANTRY_SESSION_KEY_PARAMETER",
    secure: true,
    required: true,
};

#[derive(Debug, Clone)]
pub struct Config {
    /// The AgentCore Runtime ARN of every tier in the tier file.
    pub runtime_arns: BTreeMap<TierName, String>,
    /// `https://bedrock-agentcore.{region}.amazonaws.com` (https except on loopback).
    pub runtime_endpoint: String,
    pub max_prompt_bytes: usize,
    pub max_response_bytes: usize,
    pub timeout: Duration,
    pub response_mode: ResponseMode,
    /// Where the session key is; `main` resolves it into a `SessionBinder` at start-up.
    pub session_key: SecretSource,
    /// The per-clinic daily usage table (`TENANTRY_USAGE_TABLE`). Unset: requests are not
    /// counted and `GET /usage` answers `usage_not_configured` (the template always sets it).
    pub usage_table: Option<String>,
    /// The PHI access audit trail's log group (`TENANTRY_AUDIT_LOG_GROUP`). Unset: `GET /audit`
    /// answers `audit_not_configured` (the template always sets it).
    pub audit_log_group: Option<String>,
    /// The tenant registry (`TENANTRY_REGISTRY_TABLE`), read by `GET /usage` for a clinic's
    /// own token budget. Unset: the tier's budget is shown.
    pub registry_table: Option<String>,
}

impl Config {
    /// `TENANTRY_RUNTIME_ARN_<TIER>` for every tier of the tier file (e.g.
    /// `TENANTRY_RUNTIME_ARN_BASIC`). `TENANTRY_RUNTIME_ENDPOINT` defaults from `AWS_REGION`.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        catalog: &TierCatalog,
    ) -> Result<Self, ConfigError> {
        let mut runtime_arns = BTreeMap::new();
        for (tier, _) in catalog.iter() {
            let var = format!(
                "{ENV_RUNTIME_ARN_PREFIX}{}",
                tier.as_str().to_ascii_uppercase()
            );
            let arn = get(&var).ok_or_else(|| {
                ConfigError::new("TENANTRY_RUNTIME_ARN_<TIER>", format!("set {var}"))
            })?;
            if !arn.starts_with("arn:") || !arn.contains(":runtime/") {
                return Err(ConfigError::new(
                    "TENANTRY_RUNTIME_ARN_<TIER>",
                    format!("{var} is not an AgentCore runtime ARN"),
                ));
            }
            runtime_arns.insert(tier.clone(), arn);
        }
        let runtime_endpoint = match get(ENV_RUNTIME_ENDPOINT) {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => {
                let region = get("AWS_REGION").ok_or_else(|| {
                    ConfigError::new(ENV_RUNTIME_ENDPOINT, "set it, or AWS_REGION")
                })?;
                format!("https://bedrock-agentcore.{region}.amazonaws.com")
            }
        };
        env_config::secure_endpoint(ENV_RUNTIME_ENDPOINT, &runtime_endpoint)?;
        let session_key = SESSION_KEY_VARS.source(&get)?;
        // An inline key is checked now; a parameter's value when it is read at start-up.
        if let SecretSource::Inline(key) = &session_key {
            tenant_context::SessionBinder::from_base64(key)
                .map_err(|e| ConfigError::new(SESSION_KEY_VARS.inline, e.to_string()))?;
        }
        let usage_table = get(usage_meter::ENV_USAGE_TABLE)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let audit_log_group = get(audit_trail::ENV_AUDIT_LOG_GROUP)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let registry_table = get(tenant_registry::ENV_REGISTRY_TABLE)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        Ok(Self {
            usage_table,
            audit_log_group,
            registry_table,
            session_key,
            runtime_arns,
            runtime_endpoint,
            max_prompt_bytes: env_config::positive_number(
                &get,
                ENV_MAX_PROMPT_BYTES,
                DEFAULT_MAX_PROMPT_BYTES as u64,
            )? as usize,
            max_response_bytes: env_config::positive_number(
                &get,
                ENV_MAX_RESPONSE_BYTES,
                1024 * 1024,
            )? as usize,
            timeout: Duration::from_secs(env_config::positive_number(&get, ENV_TIMEOUT_SECS, 60)?),
            response_mode: match get(ENV_RESPONSE_MODE).as_deref().map(str::trim) {
                None | Some("") | Some("buffered") => ResponseMode::Buffered,
                Some("stream") => ResponseMode::Stream,
                Some(_) => {
                    return Err(ConfigError::new(
                        ENV_RESPONSE_MODE,
                        "must be `buffered` or `stream`",
                    ));
                }
            },
        })
    }
}
