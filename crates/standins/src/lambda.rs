//! The LOCAL STAND-IN for the Lambda service: `cargo lambda watch` (cargo-lambda's Runtime API
//! emulator, installed into .tools/venv) on 127.0.0.1. It runs this workspace's real function
//! binaries through the real lambda_runtime loop and serves the Lambda Invoke API, so the
//! production client path (aws-sdk-lambda Invoke) can be exercised locally.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Error;

/// A running emulator. Dropping it stops the emulator and every function process it started.
pub struct LambdaEmulator {
    child: Child,
    port: u16,
    pid_file: Option<std::path::PathBuf>,
}

impl LambdaEmulator {
    /// Starts `cargo lambda watch` in `workspace` on 127.0.0.1:`port`, giving the functions
    /// `env`. `cargo-lambda` must be on PATH (scripts/local-flow.sh puts .tools/venv/bin there).
    /// The PID is written to `pid_file`, so a script can stop the process group if this
    /// process dies without dropping the emulator.
    pub async fn start(
        workspace: &Path,
        port: u16,
        env: &[(&str, String)],
        log: &Path,
        pid_file: Option<&Path>,
    ) -> Result<Self, Error> {
        let log_file = std::fs::File::create(log).map_err(Error::call("create emulator log"))?;
        let mut cmd = Command::new("cargo");
        cmd.current_dir(workspace)
            .args([
                "lambda",
                "watch",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(port.to_string())
            // Code changes must not restart functions mid-flow.
            .arg("--ignore-changes")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(Error::call("emulator log"))?)
            .stderr(log_file);
        // An env file, not `--env-var`: cargo-lambda splits `--env-var` values at commas.
        let env_file = log.with_extension("env");
        write_env_file(&env_file, env)?;
        cmd.arg("--env-file").arg(&env_file);
        // Its own process group, so stopping it also stops the function processes it spawns.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().map_err(Error::call(
            "start cargo lambda watch (is cargo-lambda installed? run scripts/install-standins.sh)",
        ))?;
        if let Some(p) = pid_file {
            std::fs::write(p, child.id().to_string())
                .map_err(Error::call("write emulator pid file"))?;
        }
        let mut emulator = Self {
            child,
            port,
            pid_file: pid_file.map(Path::to_path_buf),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                return Err(Error::Call {
                    op: "cargo lambda watch",
                    source: format!("exited during start-up ({status}); see {}", log.display())
                        .into(),
                });
            }
            if Instant::now() > deadline {
                return Err(Error::Call {
                    op: "cargo lambda watch",
                    source: format!(
                        "did not listen on 127.0.0.1:{port} within 60 s; see {}",
                        log.display()
                    )
                    .into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(emulator)
    }

    /// The endpoint to give an aws-sdk-lambda client (`endpoint_url`).
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        // Stop the whole process group: the emulator and the functions it started.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        if let Some(p) = &self.pid_file {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Invokes `function` on the emulator with a JSON payload: `Ok(Ok(reply))`, or `Ok(Err(the
/// function's error object))` when the function failed (the emulator answers those as HTTP
/// 500 with the error object), or `Err` when the emulator could not be reached.
pub async fn invoke_json(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &serde_json::Value,
) -> Result<Result<serde_json::Value, serde_json::Value>, Error> {
    use serde_json::Value;
    let sent = lambda
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
        .send()
        .await;
    let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap_or(Value::Null);
    match sent {
        Ok(out) if out.function_error().is_none() => Ok(Ok(parse(
            out.payload().map(|b| b.as_ref()).unwrap_or_default(),
        ))),
        Ok(out) => Ok(Err(parse(
            out.payload().map(|b| b.as_ref()).unwrap_or_default(),
        ))),
        Err(e) => match e.raw_response().and_then(|r| r.body().bytes()).map(parse) {
            Some(err) if err.get("errorType").is_some() => Ok(Err(err)),
            _ => Err(Error::Call {
                op: "lambda invoke",
                source: Box::new(e),
            }),
        },
    }
}

/// `KEY='value'` lines (single quotes: taken literally), readable by the owner only (local
/// keys are among the values).
fn write_env_file(path: &Path, env: &[(&str, String)]) -> Result<(), Error> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut text = String::new();
    for (k, v) in env {
        if v.contains('\'') || v.contains('\n') {
            return Err(Error::Config(format!(
                "the value of {k} cannot go into an env file (it holds a quote or a newline)"
            )));
        }
        text.push_str(&format!("{k}='{v}'\n"));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::call("create the emulator's env file"))?;
    file.write_all(text.as_bytes())
        .map_err(Error::call("write the emulator's env file"))
}
