//! The real `agent-runtime` binary as a local process on 127.0.0.1, for the local flow and the
//! devstack: started with its configuration, ready once `/ping` answers, stopped on drop.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use testkit::Error;

pub struct AgentProcess {
    child: Child,
    url: String,
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `/ping` on `port` answers 200 (a raw request: no client start-up in the timing).
pub fn healthy(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut status = [0u8; 12];
    s.write_all(request).is_ok()
        && s.read_exact(&mut status).is_ok()
        && status.starts_with(b"HTTP/1.1 200")
}

/// A free port on 127.0.0.1 (released before use: another process could take it first).
pub fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(Error::call("find a free port"))
}

impl AgentProcess {
    /// Starts `binary` on 127.0.0.1:`port` with `env` (and nothing else from this process's
    /// environment but PATH), logging to `log`; waits up to 30 s for `/ping`.
    pub async fn start(
        binary: &Path,
        port: u16,
        env: &[(&str, String)],
        log: &Path,
        pid_file: Option<&Path>,
    ) -> Result<Self, Error> {
        let log_file = std::fs::File::create(log).map_err(Error::call("create agent log"))?;
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TENANTRY_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(Error::call("agent log"))?)
            .stderr(log_file);
        let child = cmd.spawn().map_err(Error::call(
            "start agent-runtime (build it first: cargo build --workspace)",
        ))?;
        if let Some(p) = pid_file {
            std::fs::write(p, child.id().to_string()).map_err(Error::call("write agent pid"))?;
        }
        let mut agent = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/ping", agent.url)).send().await
                && r.status().is_success()
            {
                return Ok(agent);
            }
            if let Ok(Some(status)) = agent.child.try_wait() {
                return Err(Error::Call {
                    op: "agent-runtime",
                    source: format!("exited during start-up ({status}); see {}", log.display())
                        .into(),
                });
            }
            if Instant::now() > deadline {
                return Err(Error::Call {
                    op: "agent-runtime",
                    source: format!("no /ping answer within 30 s; see {}", log.display()).into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A process started elsewhere that serves on 127.0.0.1:`port` (the benchmark starts
    /// other agents too); stopped on drop like one started here.
    pub fn adopt(child: Child, port: u16) -> Self {
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}
