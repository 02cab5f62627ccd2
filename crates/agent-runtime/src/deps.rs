//! What an invocation needs, built once at start-up (`main.rs`) and shared by every request.

use std::sync::Arc;

use tenant_context::{SessionBinder, TokenVerifier};

use crate::after_answer::AfterAnswer;
use crate::config::Config;
use crate::guardrail::Guardrail;
use crate::health::Health;
use crate::memory::AgentMemory;
use crate::model::ChatClient;
use crate::tool_sessions::ToolSessions;

pub struct Deps {
    pub config: Config,
    pub sessions: SessionBinder,
    pub verifier: TokenVerifier,
    pub model: ChatClient,
    /// The tier's Gateway, with the MCP session kept per runtime session.
    pub tools: ToolSessions,
    /// `None` when this deployment has no memory configured.
    pub memory: Option<AgentMemory>,
    /// Present exactly when the tier file gives the tier a guardrail.
    pub guardrail: Option<Guardrail>,
    /// The per-clinic daily counters; `None` when the deployment keeps none.
    pub usage: Option<usage_meter::UsageMeter>,
    /// Turns per user per minute, counted in the usage table (every microVM against one
    /// number); `None` when the deployment keeps no usage table.
    pub turn_limit: Option<usage_meter::turn_limit::TurnLimit>,
    /// The clinics' token budgets, reserved before each model call (in the usage table);
    /// `None` when the deployment keeps no usage table.
    pub budgets: Option<crate::budget::Budgets>,
    /// The PHI access audit trail (memory recalls, the Gateway's denials); `None`: not kept.
    pub audit: Option<audit_trail::AuditLog>,
    /// Whether the caller's clinic is served now (the registry, the authorizer's short cache),
    /// so a suspension also ends invocations behind the front door; `None` when the
    /// deployment names no registry (local runs).
    pub served: Option<tenant_registry::ServedTenants>,
    pub health: Arc<Health>,
    /// Work after each answer (memory, usage counts), and its failures.
    pub after_answer: AfterAnswer,
}
