//! Captures what code under test logs, formatted as the deployed functions format it (JSON),
//! so tests can assert that no token, secret or patient detail reaches the logs.

use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Starts capturing, through `filter` (give it the functions' own filter), on this thread
    /// until the guard drops (tokio's default test runtime runs the test on one thread).
    pub fn start(
        filter: tracing_subscriber::EnvFilter,
    ) -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Self::default();
        let sink = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(move || sink.clone())
            .finish();
        (capture, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}
