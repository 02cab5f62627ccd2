//! Configuration, read once at start-up.

use scoped_credentials::IssuerConfig;
use tenant_context::VerifierConfig;

use crate::data::Tables;
use crate::page_token::PageTokens;

pub const ENV_PATIENT_TABLE: &str = "TENANTRY_PATIENT_TABLE";
pub const ENV_CLINIC_TABLE: &str = "TENANTRY_CLINIC_TABLE";
pub const ENV_PAGE_TOKEN_KEY: &str = "TENANTRY_PAGE_TOKEN_KEY";

#[derive(Debug)]
pub struct Config {
    pub verifier: VerifierConfig,
    pub credentials: IssuerConfig,
    pub tables: Tables,
    pub page_tokens: PageTokens,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Identity(#[from] tenant_context::Error),
    #[error(transparent)]
    Credentials(#[from] scoped_credentials::Error),
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |var: &'static str| {
            get(var)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Invalid {
                    var,
                    reason: "must be set".into(),
                })
        };
        Ok(Self {
            verifier: VerifierConfig::from_lookup(&get)?,
            credentials: IssuerConfig::from_lookup(&get)?,
            tables: Tables {
                patient_table: required(ENV_PATIENT_TABLE)?,
                clinic_table: required(ENV_CLINIC_TABLE)?,
            },
            page_tokens: PageTokens::from_base64(&required(ENV_PAGE_TOKEN_KEY)?).map_err(
                |reason| ConfigError::Invalid {
                    var: ENV_PAGE_TOKEN_KEY,
                    reason,
                },
            )?,
        })
    }
}
