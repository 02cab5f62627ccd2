//! "May this clinic be served now?", asked by every component behind the front door (the tool
//! target, the agent) with the same short cache as the authorizer, so that a suspension closes
//! every door within one cache period, not only the API's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tenant_context::{ClinicId, TierName, TokenBudget};

use crate::{RegistryError, TenantRegistry, TenantStatus};

/// The variable naming the registry table, for every reader.
pub const ENV_REGISTRY_TABLE: &str = "TENANTRY_REGISTRY_TABLE";
/// The variable with the cache's lifetime in seconds, for every reader.
pub const ENV_REGISTRY_CACHE_SECS: &str = "TENANTRY_REGISTRY_CACHE_SECS";
/// The cache's lifetime when the variable is unset: the authorizer's.
pub const DEFAULT_CACHE: Duration = Duration::from_secs(60);

/// The cache's lifetime as configured (`TENANTRY_REGISTRY_CACHE_SECS`), the one reading every
/// reader shares: at most an hour, so a suspension takes effect within it.
pub fn cache_lifetime(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Duration, env_config::ConfigError> {
    env_config::seconds(&get, ENV_REGISTRY_CACHE_SECS, DEFAULT_CACHE, 0..=3600)
}

/// Why a clinic is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotServed {
    /// Suspended, not onboarded, on another tier than the caller's token, or a malformed row:
    /// the caller learns only that the clinic is not served.
    #[error("this clinic is not served (suspended or not onboarded)")]
    Closed,
    /// The registry could not be read: fail closed, and say so.
    #[error("the tenant registry could not be read; retry shortly")]
    Unavailable,
}

/// The registry's answer for a clinic: served on this tier, or not.
#[derive(Debug)]
pub struct ServedTenants {
    registry: TenantRegistry,
    ttl: Duration,
    /// The tier a clinic is active on and its own token budget, `None` when not served.
    entries: Mutex<HashMap<ClinicId, (Instant, Option<Active>)>>,
}

#[derive(Debug, Clone)]
struct Active {
    tier: String,
    budget: Option<TokenBudget>,
}

impl ServedTenants {
    pub fn new(registry: TenantRegistry, ttl: Duration) -> Self {
        Self {
            registry,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when `clinic` is active on `tier` (within the cache's lifetime). A registry
    /// outage is not cached, so service resumes as soon as the table answers.
    pub async fn check(&self, clinic: &ClinicId, tier: &TierName) -> Result<(), NotServed> {
        self.served(clinic, tier).await.map(|_| ())
    }

    /// As [`Self::check`], with the clinic's own token budget when the provider set one
    /// (`None`: its tier's applies).
    pub async fn served(
        &self,
        clinic: &ClinicId,
        tier: &TierName,
    ) -> Result<Option<TokenBudget>, NotServed> {
        let cached = self.entries.lock().ok().and_then(|m| {
            m.get(clinic)
                .filter(|(at, _)| at.elapsed() < self.ttl)
                .map(|(_, active)| active.clone())
        });
        let active = match cached {
            Some(a) => a,
            None => {
                let a = self.read(clinic).await?;
                if let Ok(mut m) = self.entries.lock() {
                    m.insert(clinic.clone(), (Instant::now(), a.clone()));
                }
                a
            }
        };
        match active {
            Some(a) if a.tier == tier.as_str() => Ok(a.budget),
            _ => Err(NotServed::Closed),
        }
    }

    /// The tier the clinic is active on, `None` when it is not served.
    async fn read(&self, clinic: &ClinicId) -> Result<Option<Active>, NotServed> {
        match self.registry.get(clinic).await {
            Ok(Some(row)) if row.status == TenantStatus::Active => Ok(Some(Active {
                tier: row.tier,
                budget: row.token_budget,
            })),
            Ok(_) => Ok(None),
            Err(e @ RegistryError::Malformed { .. }) => {
                tracing::error!(error = %e, "refusing a tenant on a malformed registry row");
                Ok(None)
            }
            Err(e) => {
                tracing::error!(error = %e, clinic_id = %clinic, "tenant registry unreadable");
                Err(NotServed::Unavailable)
            }
        }
    }
}
