//! Cognito's Pre Token Generation trigger: Cognito calls it before it issues tokens (sign-in and
//! refresh), and an error from it means no tokens. The Runtimes and Gateways accept ID tokens
//! directly and never read the tenant registry, so this is where a suspended or unknown tenant
//! stops getting tokens at all; the front door's authorizer checks the registry again per
//! request.
//!
//! Fails closed: a registry that cannot be read means no token.

use serde_json::Value;
use tenant_context::{CLAIM_CLINIC_ID, CLAIM_TIER};

/// The registry status that lets a tenant in (the one tenant-admin writes on onboarding).
pub const STATUS_ACTIVE: &str = "active";
pub const ENV_REGISTRY_TABLE: &str = "TENANTRY_REGISTRY_TABLE";

#[derive(Debug, thiserror::Error)]
pub enum PreTokenError {
    /// What Cognito shows the client: no internals, no tenant names.
    #[error("sign-in refused: the account's organisation is not active")]
    TenantNotActive,
    #[error("sign-in refused: the account has no organisation")]
    NoTenant,
    #[error("sign-in refused: try again later")]
    RegistryUnavailable,
}

/// The function's configuration, read once at start-up (errors here are start-up errors,
/// apart from the per-sign-in refusals above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The TenantRegistry table.
    pub registry_table: String,
}

impl Config {
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, env_config::ConfigError> {
        let registry_table = env_config::set(&get, ENV_REGISTRY_TABLE)
            .ok_or_else(|| env_config::ConfigError::new(ENV_REGISTRY_TABLE, "must be set"))?;
        Ok(Self { registry_table })
    }
}

/// A tenant's registry row, as far as this check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    pub tier: String,
    pub status: String,
}

/// Reads the TenantRegistry.
pub trait Registry {
    fn lookup(
        &self,
        clinic_id: &str,
    ) -> impl std::future::Future<Output = Result<Option<TenantRecord>, PreTokenError>> + Send;
}

/// The registry on DynamoDB (a strongly consistent read: a suspension counts at once).
pub struct DynamoRegistry {
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl Registry for DynamoRegistry {
    async fn lookup(&self, clinic_id: &str) -> Result<Option<TenantRecord>, PreTokenError> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("clinic_id", AttributeValue::S(clinic_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                tracing::error!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "TenantRegistry unreadable; refusing tokens");
                PreTokenError::RegistryUnavailable
            })?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        match (text("tier"), text("status")) {
            (Some(tier), Some(status)) => Ok(Some(TenantRecord { tier, status })),
            // A malformed row lets nobody in.
            _ => Ok(Some(TenantRecord {
                tier: String::new(),
                status: "malformed".into(),
            })),
        }
    }
}

/// The trigger: the event back unchanged when the user's tenant is active with the tier the
/// user's attributes name; an error (no tokens) otherwise.
pub async fn handle(event: Value, registry: &impl Registry) -> Result<Value, PreTokenError> {
    let attrs = &event["request"]["userAttributes"];
    let (Some(clinic), Some(tier)) = (attrs[CLAIM_CLINIC_ID].as_str(), attrs[CLAIM_TIER].as_str())
    else {
        tracing::warn!(
            security_event = "token_without_tenant",
            trigger = event["triggerSource"].as_str().unwrap_or("?"),
            "a user without tenant attributes asked for tokens; refused"
        );
        return Err(PreTokenError::NoTenant);
    };
    match registry.lookup(clinic).await? {
        Some(r) if r.status == STATUS_ACTIVE && r.tier == tier => Ok(event),
        found => {
            tracing::warn!(
                security_event = "token_for_inactive_tenant",
                clinic_id = clinic,
                token_tier = tier,
                registry_tier = found.as_ref().map(|r| r.tier.as_str()).unwrap_or("-"),
                registry_status = found
                    .as_ref()
                    .map(|r| r.status.as_str())
                    .unwrap_or("unknown"),
                trigger = event["triggerSource"].as_str().unwrap_or("?"),
                "tokens refused"
            );
            Err(PreTokenError::TenantNotActive)
        }
    }
}

impl From<PreTokenError> for lambda_runtime::Diagnostic {
    fn from(e: PreTokenError) -> Self {
        let error_type = match &e {
            PreTokenError::TenantNotActive => "Refused.tenant_not_active",
            PreTokenError::NoTenant => "Refused.no_tenant",
            PreTokenError::RegistryUnavailable => "Retryable.registry_unavailable",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn the_registry_table_is_required() {
        let with = |v: Option<&str>| {
            let v = v.map(str::to_owned);
            Config::from_lookup(move |k| (k == ENV_REGISTRY_TABLE).then(|| v.clone()).flatten())
        };
        assert_eq!(
            with(Some(" TenantRegistry ")).unwrap().registry_table,
            "TenantRegistry"
        );
        for missing in [None, Some(""), Some("   ")] {
            let e = with(missing).unwrap_err();
            assert_eq!(e.var, ENV_REGISTRY_TABLE, "{missing:?}");
        }
    }
}
