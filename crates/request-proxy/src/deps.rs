//! What a request needs, built once at start-up (`main.rs`) and shared by every request.

use tenant_context::{SessionBinder, TierCatalog};

use crate::config::Config;

pub struct Deps {
    pub config: Config,
    /// Issues session ids bound to the caller and checks the ones callers bring back.
    pub sessions: SessionBinder,
    pub catalog: TierCatalog,
    /// InvokeAgentRuntime: the HTTP client and the role that signs.
    pub runtime: crate::runtime::RuntimeClient,
    /// The per-clinic daily counters; `None` when the deployment keeps none.
    pub usage: Option<usage_meter::UsageMeter>,
    /// The registry, for a clinic's own token budget in `GET /usage`; `None` when the
    /// deployment names none (the tier's budget is shown).
    pub registry: Option<tenant_registry::TenantRegistry>,
    /// The clinic's audit trail (`GET /audit`); `None` when the deployment names no log group.
    pub audit: Option<crate::audit::AuditReader>,
}
