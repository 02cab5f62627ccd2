//! `/ping`'s state: `HealthyBusy` while invocations run, so AgentCore Runtime keeps the session.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Default)]
pub struct Health {
    running: AtomicUsize,
    last_change: AtomicU64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Health {
    /// `/ping`'s answer: `HealthyBusy` while an invocation runs, and when that last changed
    /// (Unix seconds).
    pub fn status(&self) -> (&'static str, u64) {
        let status = if self.running.load(Ordering::Acquire) > 0 {
            "HealthyBusy"
        } else {
            "Healthy"
        };
        (status, self.last_change.load(Ordering::Relaxed))
    }

    pub fn new() -> Self {
        let h = Self::default();
        h.last_change.store(now_secs(), Ordering::Relaxed);
        h
    }

    /// Waits until no invocation runs, at most `limit`.
    pub async fn idle_within(&self, limit: std::time::Duration) {
        let wait = async {
            while self.running.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    pub(crate) fn enter(self: &Arc<Self>) -> BusyGuard {
        if self.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.last_change.store(now_secs(), Ordering::Relaxed);
        }
        BusyGuard(self.clone())
    }
}

/// Held while an invocation runs.
pub(crate) struct BusyGuard(Arc<Health>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.last_change.store(now_secs(), Ordering::Relaxed);
        }
    }
}
