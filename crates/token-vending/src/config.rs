use std::time::Duration;

use scoped_credentials::{ENV_ROLE_ARN, Scope, StsIssuer};
use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};

/// The scopes this deployment of the function vends, comma-separated (`data`, `memory`, ...).
/// Required: the function is deployed once per calling role, and Lambda tells a function
/// nothing about who invoked it, so the deployment is the caller's identity: each caller's
/// role may invoke only its own deployment (IAM), and each deployment vends only its caller's
/// scopes (here).
pub const ENV_ALLOWED_SCOPES: &str = "TENANTRY_ALLOWED_SCOPES";

/// The scopes one deployment vends; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedScopes(Vec<Scope>);

impl AllowedScopes {
    pub fn parse(raw: &str) -> Result<Self, env_config::ConfigError> {
        let bad = |reason: String| env_config::ConfigError::new(ENV_ALLOWED_SCOPES, reason);
        let mut scopes = Vec::new();
        for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let scope: Scope = serde_json::from_value(serde_json::Value::String(name.to_owned()))
                .map_err(|_| {
                bad(format!(
                    "names `{name}`, which is not a scope (data, memory)"
                ))
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(bad(
                "names no scope; set the scopes this function's callers need, e.g. `data`".into(),
            ));
        }
        Ok(Self(scopes))
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }
}

/// Everything the function reads from its environment, once, at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    pub verifier: VerifierConfig,
    /// The TVM role (`TENANTRY_TVM_ROLE_ARN`).
    pub role_arn: String,
    /// `TENANTRY_CREDENTIALS_DURATION_SECS`, 900-3600, default 900.
    pub duration: Duration,
    /// `TENANTRY_ALLOWED_SCOPES` (required).
    pub allowed_scopes: AllowedScopes,
}

/// Why the function cannot start, apart from the per-request `VendError`: one type for every
/// binary's configuration (env-config's).
pub use env_config::ConfigError;

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let verifier = VerifierConfig::from_lookup(&get)?;
        let role_arn = env_config::set(&get, ENV_ROLE_ARN)
            .ok_or_else(|| env_config::ConfigError::new(ENV_ROLE_ARN, "must be set"))?;
        let duration = scoped_credentials::duration_from(&get)?;
        let allowed_scopes =
            AllowedScopes::parse(&env_config::set(&get, ENV_ALLOWED_SCOPES).ok_or_else(|| {
                env_config::ConfigError::new(
                    ENV_ALLOWED_SCOPES,
                    "must be set to the scopes this function's callers need, e.g. `data`",
                )
            })?)?;
        Ok(Self {
            verifier,
            role_arn,
            duration,
            allowed_scopes,
        })
    }
}

/// The handler's dependencies, built once per execution environment.
pub struct Deps {
    pub verifier: TokenVerifier,
    pub issuer: StsIssuer,
    pub allowed_scopes: AllowedScopes,
}

impl Deps {
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Self::with_sts(config, aws_sdk_sts::Client::new(sdk))
    }

    pub fn with_sts(config: Config, sts: aws_sdk_sts::Client) -> Result<Self, ConfigError> {
        let catalog = TierCatalog::embedded()?;
        Ok(Self {
            verifier: TokenVerifier::new(config.verifier, catalog)?,
            issuer: StsIssuer::new(sts, config.role_arn, config.duration)?,
            allowed_scopes: config.allowed_scopes,
        })
    }

    /// Fetches the JWKS at cold start. A failure is logged, not fatal: the first request
    /// retries the fetch, and fails closed if it still cannot verify.
    pub async fn warm_up(&self) {
        match self.verifier.prefetch_keys().await {
            Ok(n) => tracing::info!(keys = n, "JWKS prefetched"),
            Err(e) => {
                tracing::warn!(error = %e, "JWKS prefetch failed; will retry on first request")
            }
        }
    }
}
