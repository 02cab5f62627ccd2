//! Per-tenant-user credential cache.
//!
//! Entries live until their expiry minus a refresh margin. Each (tenant user, scope) has its
//! own async lock, so concurrent misses for the same user make one upstream call (the others
//! wait and reuse its result) while different users never wait on each other. A failed call
//! leaves nothing behind: the next request tries again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tenant_context::TenantContext;

use crate::credentials::{Scope, ScopedCredentials};
use crate::error::Error;
use crate::issuer::{CredentialIssuer, IssueRequest};

/// Refresh this long before expiry by default, so a call never starts with credentials that
/// expire mid-flight.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(120);
/// Above this many entries, expired ones are dropped on the next insert.
const SWEEP_ABOVE: usize = 1024;

/// The time source; tests inject one to move past expiry without sleeping.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

type Slot = Arc<tokio::sync::Mutex<Option<ScopedCredentials>>>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: TenantContext,
    scope: Scope,
}

pub struct CredentialCache<I> {
    issuer: I,
    refresh_margin: Duration,
    clock: Clock,
    slots: Mutex<HashMap<Key, Slot>>,
}

impl<I> std::fmt::Debug for CredentialCache<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

impl<I: CredentialIssuer> CredentialCache<I> {
    pub fn new(issuer: I) -> Self {
        Self::with_clock(issuer, DEFAULT_REFRESH_MARGIN, Arc::new(SystemTime::now))
    }

    pub fn with_clock(issuer: I, refresh_margin: Duration, clock: Clock) -> Self {
        Self {
            issuer,
            refresh_margin,
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub fn issuer(&self) -> &I {
        &self.issuer
    }

    fn fresh(&self, c: &ScopedCredentials) -> bool {
        c.expiration > (self.clock)() + self.refresh_margin
    }

    fn slot(&self, key: Key) -> Slot {
        // The map lock is held only to find or add a slot, never across an await.
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() > SWEEP_ABOVE && !slots.contains_key(&key) {
            let now = (self.clock)();
            slots.retain(|_, slot| match slot.try_lock() {
                Ok(held) => held.as_ref().is_some_and(|c| c.expiration > now),
                Err(_) => true, // in use
            });
        }
        slots.entry(key).or_default().clone()
    }

    /// Credentials for a verified tenant user: cached, or issued once for all concurrent callers.
    /// Entries are keyed by `req.tenant`, which the caller must have obtained by verifying
    /// `req.id_token` (tenant-context's `TokenVerifier`): the cache does not verify tokens.
    pub async fn get(&self, req: IssueRequest<'_>) -> Result<ScopedCredentials, Error> {
        let slot = self.slot(Key {
            tenant: req.tenant.clone(),
            scope: req.scope,
        });
        let mut held = slot.lock().await;
        if let Some(c) = held.as_ref().filter(|c| self.fresh(c)) {
            return Ok(c.clone());
        }
        *held = None;
        let issued = self.issuer.issue(req).await?;
        if issued.tenant != *req.tenant {
            return Err(Error::TenantMismatch);
        }
        tracing::debug!(
            tier = %req.tenant.tier(),
            clinic_id = %req.tenant.clinic_id(),
            "issued scoped credentials"
        );
        *held = Some(issued.clone());
        Ok(issued)
    }
}
