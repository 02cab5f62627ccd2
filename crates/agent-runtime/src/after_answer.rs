//! Work a turn does after its caller has the answer: storing the turn in memory and adding
//! its tokens to the clinic's day. Neither changes the answer, so the caller does not wait for
//! them; `/ping` says `HealthyBusy` until they end (the invocation's busy guard is held), each
//! is bounded by [`LIMIT`], and a failure is logged and counted, never dropped silently.
//!
//! The next turn of the same runtime session reads what this one stored, so its recall first
//! waits for this turn's work to settle (AgentCore routes a session to one microVM, so the
//! order is kept in this process).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenant_context::{ClinicId, RuntimeSessionId};
use tokio::sync::OwnedMutexGuard;

/// How long each piece of after-answer work may take.
pub const LIMIT: Duration = Duration::from_secs(10);

type Lock = Arc<tokio::sync::Mutex<()>>;

/// The after-answer work in flight per runtime session, and the failures so far.
#[derive(Default)]
pub struct AfterAnswer {
    sessions: Mutex<HashMap<RuntimeSessionId, Lock>>,
    failures: AtomicU64,
}

/// Held while a turn's after-answer work runs; the session's next recall waits for it.
pub(crate) struct Settling<'a> {
    owner: &'a AfterAnswer,
    key: RuntimeSessionId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Settling<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut sessions = self.owner.sessions();
        // Nobody else waits on or holds this session's lock: forget it.
        if sessions
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            sessions.remove(&self.key);
        }
    }
}

impl AfterAnswer {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<RuntimeSessionId, Lock>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_of(&self, key: &RuntimeSessionId) -> Lock {
        self.sessions().entry(key.clone()).or_default().clone()
    }

    /// Marks `key`'s after-answer work as running (after any earlier turn's has ended).
    pub(crate) async fn begin(&self, key: &RuntimeSessionId) -> Settling<'_> {
        let guard = self.lock_of(key).lock_owned().await;
        Settling {
            owner: self,
            key: key.clone(),
            guard: Some(guard),
        }
    }

    /// Waits until `key`'s earlier after-answer work has ended (its parts run at once, each
    /// within [`LIMIT`]; twice that leaves room for a turn queued before this one).
    pub(crate) async fn settled(&self, key: &RuntimeSessionId) {
        let Some(lock) = self.sessions().get(key).cloned() else {
            return;
        };
        let _ = tokio::time::timeout(2 * LIMIT, lock.lock()).await;
    }

    /// Runs `work` within [`LIMIT`]; a failure or a timeout is recorded as `what` failing.
    pub(crate) async fn bounded<E: std::fmt::Display>(
        &self,
        what: &'static str,
        clinic: &ClinicId,
        work: impl Future<Output = Result<(), E>>,
    ) {
        match tokio::time::timeout(LIMIT, work).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failed(what, clinic, &e.to_string()),
            Err(_) => {
                let error = format!("no answer within {} s", LIMIT.as_secs());
                self.failed(what, clinic, &error);
            }
        }
    }

    /// Records that `what` failed after the answer for `clinic`.
    fn failed(&self, what: &'static str, clinic: &ClinicId, error: &str) {
        let total = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(
            after_answer = what,
            error,
            clinic_id = %clinic,
            after_answer_failures_total = total,
            "after-answer work failed"
        );
    }

    /// After-answer work that failed since the process started.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}
