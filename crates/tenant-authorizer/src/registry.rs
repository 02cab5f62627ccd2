//! The tenant registry: TenantRegistry (clinic_id HASH) -> tier, status, api_key_id; the key's
//! value is resolved through API Gateway (it lives only there). Lookups are cached for a
//! short TTL, so a suspension takes effect within that TTL.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tenant_context::ClinicId;
pub use tenant_registry::TenantStatus;
use tenant_registry::{RegistryError, TenantRegistry};

use crate::error::AuthError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    pub tier: String,
    pub status: TenantStatus,
    /// The value of the tenant's API key in its tier's usage plan.
    pub api_key_value: String,
}

/// The port the handler depends on.
pub trait Directory: Send + Sync {
    fn lookup(
        &self,
        clinic: &ClinicId,
    ) -> impl Future<Output = Result<Option<TenantRecord>, AuthError>> + Send;
}

/// The TenantRegistry for the row, API Gateway for the key's value.
pub struct AwsDirectory {
    pub registry: TenantRegistry,
    pub apigw: aws_sdk_apigateway::Client,
}

/// Logged without the SDK error's `Debug`, which for GetApiKey holds the key's value.
fn unavailable<E>(op: &'static str) -> impl FnOnce(E) -> AuthError
where
    E: aws_sdk_apigateway::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| {
        telemetry::aws_errors::log_failure(op, &e);
        AuthError::Unavailable
    }
}

impl Directory for AwsDirectory {
    async fn lookup(&self, clinic: &ClinicId) -> Result<Option<TenantRecord>, AuthError> {
        let row = match self.registry.get(clinic).await {
            Ok(Some(row)) => row,
            Ok(None) => return Ok(None),
            // A malformed row is treated as no row: it fails closed (Deny), and is logged.
            Err(e @ RegistryError::Malformed { .. }) => {
                tracing::error!(error = %e, "refusing a tenant on a malformed registry row");
                return Ok(None);
            }
            Err(e) => {
                tracing::error!(error = %telemetry::aws_errors::chain(&e), "tenant registry unreadable");
                return Err(AuthError::Unavailable);
            }
        };
        let key = self
            .apigw
            .get_api_key()
            .api_key(&row.api_key_id)
            .include_value(true)
            .send()
            .await
            .map_err(unavailable("GetApiKey"))?;
        let Some(api_key_value) = key.value().filter(|v| !v.is_empty()).map(str::to_owned) else {
            tracing::error!(clinic_id = %clinic, "the tenant's API key has no value");
            return Ok(None);
        };
        if !key.enabled() {
            tracing::warn!(clinic_id = %clinic, "the tenant's API key is disabled");
            return Ok(None);
        }
        // Only a key tenant-admin made for this very tenant: a registry row naming any other
        // key (another tenant's, or an operator's key in a generous usage plan) fails closed.
        let tagged = tenant_context::api_key_tags(clinic)
            .iter()
            .all(|(k, v)| key.tags().and_then(|t| t.get(*k)) == Some(v));
        if !tagged {
            tracing::error!(clinic_id = %clinic, "the registry names an API key that is not tagged as this tenant's key");
            return Ok(None);
        }
        Ok(Some(TenantRecord {
            tier: row.tier,
            status: row.status,
            api_key_value,
        }))
    }
}

/// A TTL cache in front of a directory (answers, including "no such tenant", are cached).
pub struct CachedDirectory<D> {
    inner: D,
    ttl: Duration,
    entries: Mutex<HashMap<ClinicId, (Instant, Option<TenantRecord>)>>,
}

impl<D: Directory> CachedDirectory<D> {
    pub fn new(inner: D, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<D: Directory> Directory for CachedDirectory<D> {
    async fn lookup(&self, clinic: &ClinicId) -> Result<Option<TenantRecord>, AuthError> {
        let cached = self.entries.lock().ok().and_then(|m| {
            m.get(clinic)
                .filter(|(at, _)| at.elapsed() < self.ttl)
                .map(|(_, r)| r.clone())
        });
        if let Some(record) = cached {
            return Ok(record);
        }
        let record = self.inner.lookup(clinic).await?;
        if let Ok(mut m) = self.entries.lock() {
            m.insert(clinic.clone(), (Instant::now(), record.clone()));
        }
        Ok(record)
    }
}
