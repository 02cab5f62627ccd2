//! What an invocation needs, built once at start-up (`main.rs`) and shared by every request.

use std::sync::Arc;

use tenant_context::{SessionBinder, TokenVerifier};

use crate::config::Config;
use crate::guardrail::Guardrail;
use crate::health::Health;
use crate::memory::AgentMemory;
use crate::model::ChatClient;
use crate::tools::Gateway;

pub struct Deps {
    pub config: Config,
    pub sessions: SessionBinder,
    pub verifier: TokenVerifier,
    pub model: ChatClient,
    pub gateway: Gateway,
    /// `None` when this deployment has no memory configured.
    pub memory: Option<AgentMemory>,
    /// Present exactly when the tier file gives the tier a guardrail.
    pub guardrail: Option<Guardrail>,
    /// The per-clinic daily counters; `None` when the deployment keeps none.
    pub usage: Option<usage_meter::UsageMeter>,
    /// Turns per user per minute, counted in the usage table (every microVM against one
    /// number); `None` when the deployment keeps no usage table.
    pub turn_limit: Option<usage_meter::turn_limit::TurnLimit>,
    pub health: Arc<Health>,
}
