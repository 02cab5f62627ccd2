use std::time::Duration;

use tenant_context::VerifierConfig;

use env_config::ConfigError;

pub use tenant_registry::{ENV_REGISTRY_CACHE_SECS as ENV_REGISTRY_TTL_SECS, ENV_REGISTRY_TABLE};

/// Read once at start-up.
#[derive(Debug)]
pub struct Config {
    pub verifier: VerifierConfig,
    pub registry_table: String,
    /// How long a registry answer is reused (default 60 s): a suspension takes effect within it.
    pub registry_ttl: Duration,
}

impl Config {
    /// Start-up configuration: its errors are apart from the per-request `AuthError`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let verifier = VerifierConfig::from_lookup(&get)
            .map_err(|e| ConfigError::new("TENANTRY_TOKEN_*", e.to_string()))?;
        let registry_table = env_config::set(&get, ENV_REGISTRY_TABLE)
            .ok_or_else(|| ConfigError::new(ENV_REGISTRY_TABLE, "must be set"))?;
        let registry_ttl = tenant_registry::cache_lifetime(&get)?;
        Ok(Self {
            verifier,
            registry_table,
            registry_ttl,
        })
    }
}
