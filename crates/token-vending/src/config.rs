use std::time::Duration;

use scoped_credentials::{DEFAULT_DURATION, ENV_DURATION, ENV_ROLE_ARN, StsIssuer, check_duration};
use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};

use crate::error::VendError;

/// Everything the function reads from its environment, once, at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    pub verifier: VerifierConfig,
    /// The TVM role (`TENANTRY_TVM_ROLE_ARN`).
    pub role_arn: String,
    /// `TENANTRY_CREDENTIALS_DURATION_SECS`, 900-3600, default 900.
    pub duration: Duration,
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, VendError> {
        let verifier = VerifierConfig::from_lookup(&get).map_err(VendError::Config)?;
        let role_arn = get(ENV_ROLE_ARN).ok_or_else(|| {
            VendError::Credentials(scoped_credentials::Error::Config {
                field: "role_arn",
                reason: format!("set {ENV_ROLE_ARN}"),
            })
        })?;
        let duration = match get(ENV_DURATION) {
            None => DEFAULT_DURATION,
            Some(v) => check_duration(v.parse().map_err(|_| {
                VendError::Credentials(scoped_credentials::Error::Config {
                    field: "duration",
                    reason: format!("{ENV_DURATION} must be a whole number of seconds"),
                })
            })?)?,
        };
        Ok(Self {
            verifier,
            role_arn,
            duration,
        })
    }
}

/// The handler's dependencies, built once per execution environment.
pub struct Deps {
    pub verifier: TokenVerifier,
    pub issuer: StsIssuer,
}

impl Deps {
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Result<Self, VendError> {
        Self::with_sts(config, aws_sdk_sts::Client::new(sdk))
    }

    pub fn with_sts(config: Config, sts: aws_sdk_sts::Client) -> Result<Self, VendError> {
        let catalog = TierCatalog::embedded().map_err(VendError::Config)?;
        Ok(Self {
            verifier: TokenVerifier::new(config.verifier, catalog).map_err(VendError::Config)?,
            issuer: StsIssuer::new(sts, config.role_arn, config.duration)?,
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
