//! Cognito's Pre Token Generation trigger: Cognito calls it before it issues tokens (sign-in and
//! refresh), and an error from it means no tokens. The Runtimes and Gateways accept ID tokens
//! directly and never read the tenant registry, so this is where a suspended or unknown tenant
//! stops getting tokens at all; the front door's authorizer checks the registry again per
//! request.
//!
//! Fails closed: a registry that cannot be read means no token.

use aws_lambda_events::cognito::CognitoEventUserPoolsPreTokenGenRequest as PreTokenRequest;
use serde_json::Value;
use tenant_context::{CLAIM_CLINIC_ID, CLAIM_TIER};

use tenant_registry::{RegistryError, TenantRegistry, TenantStatus};

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
    pub status: TenantStatus,
}

/// Reads the TenantRegistry.
pub trait Registry {
    fn lookup(
        &self,
        clinic_id: &str,
    ) -> impl std::future::Future<Output = Result<Option<TenantRecord>, PreTokenError>> + Send;
}

impl Registry for TenantRegistry {
    async fn lookup(&self, clinic_id: &str) -> Result<Option<TenantRecord>, PreTokenError> {
        // A clinic id outside the grammar names no tenant.
        let Ok(clinic) = tenant_context::ClinicId::parse(clinic_id) else {
            return Ok(None);
        };
        match self.get(&clinic).await {
            Ok(row) => Ok(row.map(|r| TenantRecord {
                tier: r.tier,
                status: r.status,
            })),
            // A malformed row lets nobody in.
            Err(e @ RegistryError::Malformed { .. }) => {
                tracing::error!(error = %e, "refusing tokens on a malformed registry row");
                Ok(None)
            }
            Err(e) => {
                tracing::error!(error = %telemetry::aws_errors::chain(&e), "TenantRegistry unreadable; refusing tokens");
                Err(PreTokenError::RegistryUnavailable)
            }
        }
    }
}

/// The trigger: the event back unchanged when the user's tenant is active with the tier the
/// user's attributes name; an error (no tokens) otherwise.
///
/// The request part is read as aws_lambda_events' type; the event goes back as it came (Cognito
/// reads the `response` object), and the header is not parsed into that crate's closed
/// trigger-source enum: a trigger source it does not know yet must not refuse every sign-in.
pub async fn handle(event: Value, registry: &impl Registry) -> Result<Value, PreTokenError> {
    let request = event
        .get("request")
        .cloned()
        .and_then(|r| serde_json::from_value::<PreTokenRequest>(r).ok())
        .unwrap_or_default();
    let attrs = &request.user_attributes;
    let (Some(clinic), Some(tier)) = (
        attrs.get(CLAIM_CLINIC_ID).map(String::as_str),
        attrs.get(CLAIM_TIER).map(String::as_str),
    ) else {
        tracing::warn!(
            security_event = "token_without_tenant",
            trigger = event["triggerSource"].as_str().unwrap_or("?"),
            "a user without tenant attributes asked for tokens; refused"
        );
        return Err(PreTokenError::NoTenant);
    };
    match registry.lookup(clinic).await? {
        Some(r) if r.status == TenantStatus::Active && r.tier == tier => Ok(event),
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
