use std::time::Duration;

use tenant_context::VerifierConfig;

use crate::error::AuthError;

pub const ENV_REGISTRY_TABLE: &str = "TENANTRY_REGISTRY_TABLE";
pub const ENV_REGISTRY_TTL_SECS: &str = "TENANTRY_REGISTRY_CACHE_SECS";

/// Read once at start-up.
#[derive(Debug)]
pub struct Config {
    pub verifier: VerifierConfig,
    pub registry_table: String,
    /// How long a registry answer is reused (default 60 s): a suspension takes effect within it.
    pub registry_ttl: Duration,
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, AuthError> {
        let verifier = VerifierConfig::from_lookup(&get).map_err(|e| AuthError::Config {
            var: "TENANTRY_TOKEN_*",
            reason: e.to_string(),
        })?;
        let registry_table =
            get(ENV_REGISTRY_TABLE)
                .filter(|t| !t.is_empty())
                .ok_or(AuthError::Config {
                    var: ENV_REGISTRY_TABLE,
                    reason: "must be set".into(),
                })?;
        // At most an hour: a suspension takes effect within this time.
        let registry_ttl = env_config::seconds(
            &get,
            ENV_REGISTRY_TTL_SECS,
            Duration::from_secs(60),
            0..=3600,
        )
        .map_err(|e| AuthError::Config {
            var: e.var,
            reason: e.reason,
        })?;
        Ok(Self {
            verifier,
            registry_table,
            registry_ttl,
        })
    }
}
