//! The tenant registry: TenantRegistry (clinic_id HASH) -> tier, status, api_key_id; the key's
//! value is resolved through API Gateway (it lives only there). Lookups are cached for a
//! short TTL, so a suspension takes effect within that TTL.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use tenant_context::ClinicId;

use crate::error::AuthError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
}

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

/// DynamoDB for the record, API Gateway for the key value.
pub struct AwsDirectory {
    pub ddb: aws_sdk_dynamodb::Client,
    pub apigw: aws_sdk_apigateway::Client,
    pub table: String,
}

/// Logged with the error's code and Display chain only: an SDK error's `Debug` carries the raw
/// response, which for GetApiKey holds the tenant's API key value.
fn unavailable<E>(op: &'static str) -> impl FnOnce(E) -> AuthError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error,
{
    move |e| {
        tracing::error!(
            op,
            code = e.code().unwrap_or("-"),
            error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e),
            "tenant registry call failed"
        );
        AuthError::Unavailable
    }
}

impl Directory for AwsDirectory {
    async fn lookup(&self, clinic: &ClinicId) -> Result<Option<TenantRecord>, AuthError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("clinic_id", AttributeValue::S(clinic.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("GetItem TenantRegistry"))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        // A malformed record is treated as no record: it fails closed (Deny), and is logged.
        let (Some(tier), Some(status), Some(key_id)) =
            (text("tier"), text("status"), text("api_key_id"))
        else {
            tracing::error!(clinic_id = %clinic, "TenantRegistry record lacks tier, status or api_key_id");
            return Ok(None);
        };
        let status = match status.as_str() {
            "active" => TenantStatus::Active,
            "suspended" => TenantStatus::Suspended,
            _ => {
                tracing::error!(clinic_id = %clinic, "TenantRegistry record has an unknown status");
                return Ok(None);
            }
        };
        let key = self
            .apigw
            .get_api_key()
            .api_key(&key_id)
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
            tier,
            status,
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
