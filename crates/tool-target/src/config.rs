//! Configuration, read once at start-up.

pub use env_config::ConfigError;
use scoped_credentials::IssuerConfig;
use secret_config::{SecretSource, SecretVars};
use tenant_context::VerifierConfig;

use crate::data::Tables;
use crate::documents::KnowledgeBases;
use crate::page_token::PageTokens;

pub const ENV_PATIENT_TABLE: &str = "TENANTRY_PATIENT_TABLE";
pub const ENV_CLINIC_TABLE: &str = "TENANTRY_CLINIC_TABLE";
pub const ENV_PAGE_TOKEN_KEY: &str = "TENANTRY_PAGE_TOKEN_KEY";
pub const ENV_PAGE_TOKEN_KEY_PARAMETER: &str = "TENANTRY_PAGE_TOKEN_KEY_PARAMETER";
/// Prefix of the per-tier knowledge base ids: `TENANTRY_KNOWLEDGE_BASE_BASIC`, ...; a tier
/// without one answers `documents_not_configured`.
pub const ENV_KNOWLEDGE_BASE_PREFIX: &str = "TENANTRY_KNOWLEDGE_BASE_";

#[derive(Debug)]
pub struct Config {
    pub verifier: VerifierConfig,
    pub credentials: IssuerConfig,
    pub tables: Tables,
    pub page_token_key: PageTokenKey,
    pub knowledge_bases: KnowledgeBases,
    pub web_search: crate::web_search::WebSearchConfig,
    /// The tenant registry: a suspended clinic's calls are refused here too.
    pub registry_table: String,
    pub registry_cache: std::time::Duration,
    /// The PHI access audit trail's log group (`TENANTRY_AUDIT_LOG_GROUP`): required, since
    /// patient data is returned only once its access is recorded.
    pub audit_log_group: String,
}

/// Where the page-token signing key comes from: set exactly one of the two variables.
#[derive(Debug)]
pub enum PageTokenKey {
    /// `TENANTRY_PAGE_TOKEN_KEY`: the base64 key itself (local runs and tests).
    Inline(PageTokens),
    /// `TENANTRY_PAGE_TOKEN_KEY_PARAMETER`: an SSM SecureString holding it (deployments: the
    /// key stays out of the function's configuration), read once at start-up.
    Parameter(String),
}

/// The page-token key's two variables (see `secret_config`).
pub const PAGE_TOKEN_KEY_VARS: SecretVars = SecretVars {
    inline: ENV_PAGE_TOKEN_KEY,
    parameter: ENV_PAGE_TOKEN_KEY_PARAMETER,
    secure: true,
    required: true,
};

fn page_token_key(get: impl Fn(&str) -> Option<String>) -> Result<PageTokenKey, ConfigError> {
    match PAGE_TOKEN_KEY_VARS.source(get)? {
        SecretSource::Inline(key) => PageTokens::from_base64(&key)
            .map(PageTokenKey::Inline)
            .map_err(|reason| ConfigError::new(ENV_PAGE_TOKEN_KEY, reason)),
        SecretSource::Parameter(name) => Ok(PageTokenKey::Parameter(name)),
    }
}

impl PageTokenKey {
    /// The key itself; reads the SSM parameter (with decryption) when configured so.
    pub async fn resolve(self, ssm: &aws_sdk_ssm::Client) -> Result<PageTokens, ConfigError> {
        let name = match self {
            Self::Inline(tokens) => return Ok(tokens),
            Self::Parameter(name) => name,
        };
        let value = PAGE_TOKEN_KEY_VARS
            .resolve(SecretSource::Parameter(name.clone()), ssm)
            .await?;
        PageTokens::from_base64(&value).map_err(|reason| {
            ConfigError::new(
                ENV_PAGE_TOKEN_KEY_PARAMETER,
                format!("SSM parameter {name}: {reason}"),
            )
        })
    }
}

/// The knowledge base id of every tier that has one configured.
fn knowledge_bases(get: impl Fn(&str) -> Option<String>) -> Result<KnowledgeBases, ConfigError> {
    let catalog = tenant_context::TierCatalog::embedded()?;
    let mut bases = std::collections::BTreeMap::new();
    for (tier, _) in catalog.iter() {
        let var = format!(
            "{ENV_KNOWLEDGE_BASE_PREFIX}{}",
            tier.as_str().to_ascii_uppercase()
        );
        if let Some(id) = get(&var).filter(|v| !v.trim().is_empty()) {
            if !id.chars().all(|c| c.is_ascii_alphanumeric()) || id.len() > 10 {
                return Err(ConfigError::new(
                    "TENANTRY_KNOWLEDGE_BASE_<TIER>",
                    format!("{var} is not a knowledge base id (up to 10 letters and digits)"),
                ));
            }
            bases.insert(tier.clone(), id.trim().to_owned());
        }
    }
    Ok(KnowledgeBases(bases))
}

impl Config {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |var: &'static str| {
            get(var)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError::new(var, "must be set"))
        };
        Ok(Self {
            verifier: VerifierConfig::from_lookup(&get)?,
            credentials: IssuerConfig::from_lookup(&get)?,
            tables: Tables {
                patient_table: required(ENV_PATIENT_TABLE)?,
                clinic_table: required(ENV_CLINIC_TABLE)?,
            },
            page_token_key: page_token_key(&get)?,
            knowledge_bases: knowledge_bases(&get)?,
            web_search: crate::web_search::WebSearchConfig::from_lookup(&get)?,
            registry_table: required(tenant_registry::ENV_REGISTRY_TABLE)?,
            registry_cache: tenant_registry::cache_lifetime(&get)?,
            audit_log_group: required(audit_trail::ENV_AUDIT_LOG_GROUP)?,
        })
    }
}
