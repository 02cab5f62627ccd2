//! Captures what code under test logs, formatted as the deployed functions format it (JSON),
//! so tests can assert that no token, secret or patient detail reaches the logs.
//!
//! One global subscriber is installed for the whole test binary and writes to the capture of
//! the current thread, if any. Per-test `set_default` subscribers were flaky when `cargo test`
//! ran tests on parallel threads in one process: tracing caches each callsite's interest
//! globally, and a callsite first hit on a thread without a subscriber could stay disabled for
//! the capturing test (nextest, one process per test, never showed it).

use std::cell::RefCell;
use std::sync::{Arc, Mutex, Once};

use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

thread_local! {
    static SINK: RefCell<Option<LogCapture>> = const { RefCell::new(None) };
}

/// The writer of the global subscriber: the current thread's capture, or nowhere.
struct ThreadSink;

impl std::io::Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        SINK.with(|s| {
            if let Some(capture) = s.borrow().as_ref()
                && let Ok(mut b) = capture.0.lock()
            {
                b.extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Ends the capture of this thread when dropped.
pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        SINK.with(|s| *s.borrow_mut() = None);
    }
}

static INSTALL: Once = Once::new();

impl LogCapture {
    /// Starts capturing this thread's logs (tokio's default test runtime runs the test on one
    /// thread) until the guard drops. `filter` should be the functions' own filter; the first
    /// call in a test binary installs it for the whole binary, so give every call the same one.
    pub fn start<F>(filter: F) -> (Self, CaptureGuard)
    where
        F: Filter<Registry> + Send + Sync + 'static,
    {
        INSTALL.call_once(|| {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(|| ThreadSink)
                .with_filter(filter);
            let installed = Registry::default().with(layer).try_init();
            if installed.is_err() {
                // Another global subscriber exists: captures would stay empty, and the log
                // assertions would pass vacuously. Fail loudly instead.
                panic!("LogCapture: a global tracing subscriber is already installed");
            }
        });
        let capture = Self::default();
        SINK.with(|s| *s.borrow_mut() = Some(capture.clone()));
        (capture, CaptureGuard(()))
    }

    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}
