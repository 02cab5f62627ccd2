//! The Gateway's MCP session of each runtime session, kept for the runtime session's life.
//!
//! Opening an MCP session is three sequential round trips (initialize, initialized,
//! tools/list) and closing it one more; AgentCore Runtime gives each runtime session its own
//! microVM, so one conversation's questions reach one process and can share one session.
//!
//! A kept session serves only the identity that opened it (tier, clinic, user and role): any
//! other opens its own, so a role change never sees the old role's tool list. Each invocation
//! binds its own caller token to the session's requests before using it. A session the Gateway
//! no longer knows (a restart, its own expiry) is re-initialized by rmcp on the next request
//! (`reinit_on_expired_session`, on by default), and new connections are opened as needed; a
//! session whose task has ended, or one a call could not reach the Gateway on, is replaced at
//! the next invocation; an idle one is closed after the Runtime's idle timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};
use tenant_context::{RuntimeSessionId, TenantContext, TierCatalog};
use tokio::time::Instant;

use crate::model::ToolSpec;
use crate::tools::{Gateway, GatewayError, GatewaySession, ToolOutcome, ToolStatus, Toolbox};

/// AgentCore Runtime ends a session after 15 minutes without an invocation (its default
/// `idleRuntimeSessionTimeout`); a kept MCP session idle as long is closed.
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// Sessions kept at most. A microVM serves one runtime session; a local process serving many
/// keeps the most recently used.
pub const CAPACITY: usize = 16;

struct Kept {
    owner: TenantContext,
    session: Arc<GatewaySession>,
    used: Instant,
}

/// The Gateway, and the MCP sessions kept on it per runtime session.
pub struct ToolSessions {
    gateway: Gateway,
    kept: Mutex<HashMap<RuntimeSessionId, Kept>>,
}

impl ToolSessions {
    pub fn new(gateway: Gateway) -> Self {
        Self {
            gateway,
            kept: Mutex::new(HashMap::new()),
        }
    }

    fn kept(&self) -> MutexGuard<'_, HashMap<RuntimeSessionId, Kept>> {
        // The map is left consistent at every await-free step; a panic elsewhere does not
        // make it wrong.
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tools of `runtime_session` for this invocation's caller: its kept MCP session,
    /// bound to `token`, or a new one.
    pub async fn tools(
        &self,
        runtime_session: &RuntimeSessionId,
        token: &str,
        ctx: &TenantContext,
        catalog: &TierCatalog,
    ) -> Result<SessionTools<'_>, GatewayError> {
        let session = match self.reuse(runtime_session, ctx) {
            Some(session) => {
                session.bind(token, ctx, runtime_session)?;
                session
            }
            None => self.open(runtime_session, token, ctx, catalog).await?,
        };
        Ok(SessionTools {
            sessions: self,
            key: runtime_session.clone(),
            session,
        })
    }

    /// The kept session of `key` if it is `ctx`'s, open and not idle too long; anything else
    /// kept under `key` (or idle anywhere) is closed.
    fn reuse(&self, key: &RuntimeSessionId, ctx: &TenantContext) -> Option<Arc<GatewaySession>> {
        let now = Instant::now();
        let mut kept = self.kept();
        let stale: Vec<RuntimeSessionId> = kept
            .iter()
            .filter(|(k, v)| {
                now.duration_since(v.used) >= IDLE
                    || v.session.is_closed()
                    || (*k == key && &v.owner != ctx)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            if let Some(old) = kept.remove(&k) {
                close_later(old.session);
            }
        }
        let entry = kept.get_mut(key)?;
        entry.used = now;
        Some(entry.session.clone())
    }

    async fn open(
        &self,
        key: &RuntimeSessionId,
        token: &str,
        ctx: &TenantContext,
        catalog: &TierCatalog,
    ) -> Result<Arc<GatewaySession>, GatewayError> {
        // On a task of its own: rmcp's session task adopts the span it starts in, and a kept
        // session must not hold this invocation's span (and trace) open after the turn.
        let connect = tokio::spawn({
            let (gateway, token, ctx, key, catalog) = (
                self.gateway.clone(),
                token.to_owned(),
                ctx.clone(),
                key.clone(),
                catalog.clone(),
            );
            async move { gateway.connect(&token, &ctx, &key, &catalog).await }
        });
        let session = Arc::new(connect.await.map_err(|_| GatewayError::Unreachable)??);
        let mut kept = self.kept();
        if kept.len() >= CAPACITY && !kept.contains_key(key) {
            let oldest = kept
                .iter()
                .min_by_key(|(_, v)| v.used)
                .map(|(k, _)| k.clone());
            if let Some(old) = oldest.and_then(|k| kept.remove(&k)) {
                close_later(old.session);
            }
        }
        let replaced = kept.insert(
            key.clone(),
            Kept {
                owner: ctx.clone(),
                session: session.clone(),
                used: Instant::now(),
            },
        );
        if let Some(old) = replaced {
            close_later(old.session);
        }
        Ok(session)
    }

    /// Stops keeping `session` for `key` (if it is still the one kept there).
    fn forget(&self, key: &RuntimeSessionId, session: &Arc<GatewaySession>) {
        let mut kept = self.kept();
        if kept
            .get(key)
            .is_some_and(|k| Arc::ptr_eq(&k.session, session))
            && let Some(old) = kept.remove(key)
        {
            close_later(old.session);
        }
    }

    /// How many sessions are kept (for tests and diagnostics).
    pub fn kept_count(&self) -> usize {
        self.kept().len()
    }
}

/// Closes a session no longer kept, off the caller's path. One still in use by another
/// invocation closes when that invocation lets go of it (dropping it ends its transport).
fn close_later(session: Arc<GatewaySession>) {
    if let Ok(session) = Arc::try_unwrap(session) {
        tokio::spawn(session.close());
    }
}

/// One invocation's tools: its runtime session's MCP session, bound to its caller.
pub struct SessionTools<'a> {
    sessions: &'a ToolSessions,
    key: RuntimeSessionId,
    session: Arc<GatewaySession>,
}

impl Toolbox for SessionTools<'_> {
    fn specs(&self) -> &[ToolSpec] {
        self.session.specs()
    }

    /// A call the Gateway could not be reached for (or that timed out) ends the keeping of
    /// this session: the next question opens a new one, whatever the Gateway answers for a
    /// session it lost (rmcp re-initializes only on the MCP specification's 404).
    async fn call(&self, tool: &str, args: Map<String, Value>) -> ToolOutcome {
        let outcome = self.session.call(tool, args).await;
        if outcome.status == ToolStatus::Unavailable {
            self.sessions.forget(&self.key, &self.session);
        }
        outcome
    }
}
