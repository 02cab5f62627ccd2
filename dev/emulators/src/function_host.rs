//! A LOCAL Lambda Runtime API serving one function process: it starts the function's real
//! binary with `AWS_LAMBDA_RUNTIME_API` pointing here, hands it invocations the way Lambda's
//! `/next` does (request id, deadline, function ARN, trace id, client context headers), and
//! passes its replies back, streamed replies chunk by chunk as the function writes them.
//!
//! Every function of the devstack runs under one ([`crate::lambda_api`] is the Invoke API in
//! front). Streamed replies pass through as Lambda passes them: the bytes a streaming function
//! writes (metadata prelude, eight NUL bytes, payload) are what `InvokeWithResponseStream`
//! returns (cargo-lambda's emulator consumes the prelude and answers once the function is
//! done). If this process dies, the function's next `/next` call fails and lambda_runtime
//! exits: no function outlives its host for long.
//!
//! Known differences from Lambda: one instance, invocations one at a time in arrival order;
//! no timeout enforcement beyond the deadline header; mid-stream error trailers are dropped
//! (the stream just ends).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};
use tokio_stream::StreamExt as _;

use testkit::Error;

const RUNTIME: &str = "/2018-06-01/runtime";

/// What a function sent back for one invocation, as it arrives.
#[derive(Debug)]
pub enum Reply {
    /// Bytes of the reply (a buffered reply is one chunk; a streamed one many).
    Chunk(Bytes),
    /// The function reported an error (`/error`): its error object.
    Failed(Value),
}

struct Pending {
    n: u64,
    id: String,
    event: Value,
    /// The `Lambda-Runtime-Client-Context` header: the caller's client context as JSON text.
    client_context: Option<String>,
    reply: mpsc::Sender<Reply>,
}

struct Inner {
    function_arn: String,
    queue: Mutex<mpsc::Receiver<Pending>>,
    waiting: Mutex<HashMap<String, mpsc::Sender<Reply>>>,
}

/// A running function under this Runtime API; dropping it stops the process and the server.
pub struct FunctionHost {
    // A lock only so a shared host can ask whether its process is still alive.
    child: std::sync::Mutex<Child>,
    log: std::path::PathBuf,
    _server: crate::ServerTask,
    queue: mpsc::Sender<Pending>,
    next_id: AtomicU64,
    addr: SocketAddr,
}

impl Drop for FunctionHost {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl FunctionHost {
    /// Starts `binary` as function `name` with `env` (and PATH), logging to `log`.
    pub async fn start(
        binary: &Path,
        name: &str,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self, Error> {
        Self::start_command(binary, &[], name, env, log).await
    }

    /// Starts `program` with `args` as function `name` (a runtime interface client such as
    /// Python's `awslambdaric` takes the handler as an argument), otherwise as [`Self::start`].
    pub async fn start_command(
        program: &Path,
        args: &[&str],
        name: &str,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self, Error> {
        let (queue, rx) = mpsc::channel(64);
        let inner = Arc::new(Inner {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
            queue: Mutex::new(rx),
            waiting: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .route(&format!("{RUNTIME}/invocation/next"), get(next))
            .route(
                &format!("{RUNTIME}/invocation/{{id}}/response"),
                post(response),
            )
            .route(&format!("{RUNTIME}/invocation/{{id}}/error"), post(error))
            .route(&format!("{RUNTIME}/init/error"), post(init_error))
            .with_state(inner);
        let (addr, server) = crate::serve_local(app, 0)
            .await
            .map_err(Error::call("start the Lambda Runtime API"))?;
        let log_file = std::fs::File::create(log).map_err(Error::call("create function log"))?;
        let child = Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(Error::call("function log"))?)
            .stderr(log_file)
            .spawn()
            .map_err(Error::call(
                "start the function binary (cargo build --workspace first)",
            ))?;
        Ok(Self {
            child: std::sync::Mutex::new(child),
            log: log.to_owned(),
            _server: server,
            queue,
            next_id: AtomicU64::new(0),
            addr,
        })
    }

    /// The `AWS_LAMBDA_RUNTIME_API` value the function got.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// The function process's id (to read its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).id()
    }

    /// `Err` once the function process has exited: an invocation would wait for ever.
    fn alive(&self) -> Result<(), Error> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Call {
                op: "function host",
                source: format!(
                    "the function process exited ({status}); see {}",
                    self.log.display()
                )
                .into(),
            }),
            Err(e) => Err(Error::call("function host")(e)),
        }
    }

    /// Queues an invocation; the reply arrives on the receiver as the function writes it and
    /// the channel closes when it is complete.
    pub async fn invoke(&self, event: Value) -> Result<mpsc::Receiver<Reply>, Error> {
        self.invoke_with_context(event, None).await
    }

    /// As [`Self::invoke`], with a client context (JSON text), as an AgentCore Gateway target
    /// is invoked.
    pub async fn invoke_with_context(
        &self,
        event: Value,
        client_context: Option<String>,
    ) -> Result<mpsc::Receiver<Reply>, Error> {
        self.alive()?;
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(64);
        self.queue
            .send(Pending {
                n,
                id: format!("local-invocation-{n:08}"),
                event,
                client_context,
                reply: tx,
            })
            .await
            .map_err(|_| Error::Call {
                op: "function host",
                source: "the function host stopped".into(),
            })?;
        Ok(rx)
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    let Some(p) = inner.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    inner.waiting.lock().await.insert(p.id.clone(), p.reply);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let deadline = now.as_millis() + 180_000;
    let mut r = axum::Json(p.event).into_response();
    let h = r.headers_mut();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = v.parse() {
            h.insert(k, v);
        }
    };
    put("lambda-runtime-aws-request-id", p.id.clone());
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        inner.function_arn.clone(),
    );
    put(
        "lambda-runtime-trace-id",
        format!("Root=1-{:08x}-{:024x};Sampled=0", now.as_secs(), p.n),
    );
    if let Some(cc) = p.client_context {
        put("lambda-runtime-client-context", cc);
    }
    r
}

async fn response(
    State(inner): State<Arc<Inner>>,
    UrlPath(id): UrlPath<String>,
    _headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let Some(tx) = inner.waiting.lock().await.remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    // Streamed or not, the body is passed on as it arrives. Once nobody listens (the caller
    // went away) the rest is still read, as Lambda does: answering before the body ends would
    // cut the function's request short, and lambda_runtime exits on that.
    let mut stream = body.into_data_stream();
    let mut listened = true;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) if c.is_empty() || !listened => {}
            Ok(c) => listened = tx.send(Reply::Chunk(c)).await.is_ok(),
            Err(_) => break,
        }
    }
    StatusCode::ACCEPTED
}

async fn error(
    State(inner): State<Arc<Inner>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    if let Some(tx) = inner.waiting.lock().await.remove(&id) {
        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let _ = tx.send(Reply::Failed(v)).await;
    }
    StatusCode::ACCEPTED
}

async fn init_error(body: Bytes) -> StatusCode {
    tracing::error!(
        target: "function_host",
        error = %String::from_utf8_lossy(&body),
        "the function failed to start"
    );
    StatusCode::ACCEPTED
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function whose caller went away still gets its whole response read and a 202, and
    /// the next invocation is served: a real Runtime API does not cut a response short.
    #[tokio::test]
    async fn a_response_nobody_waits_for_is_read_to_its_end() {
        let log = std::env::temp_dir().join(format!("function-host-{}.log", std::process::id()));
        // The test plays the function; the process is only something to own.
        let host = FunctionHost::start_command(Path::new("sleep"), &["30"], "gone", &[], &log)
            .await
            .expect("host");
        let api = format!("http://{}{RUNTIME}/invocation", host.runtime_api());
        let http = reqwest::Client::new();
        let next_id = async |http: &reqwest::Client| {
            let next = http.get(format!("{api}/next")).send().await.unwrap();
            next.headers()["lambda-runtime-aws-request-id"]
                .to_str()
                .unwrap()
                .to_owned()
        };

        let gone = host.invoke(serde_json::json!({"round": 0})).await.unwrap();
        let id = next_id(&http).await;
        drop(gone); // the caller is gone before the function answers
        // More than the reply channel holds, in many chunks, counted as they are taken.
        let taken = Arc::new(AtomicU64::new(0));
        let counter = taken.clone();
        let chunks = tokio_stream::iter(0..512).map(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok::<_, std::io::Error>(vec![b'x'; 16 * 1024])
        });
        let posted = http
            .post(format!("{api}/{id}/response"))
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .expect("the whole response is taken");
        assert_eq!(posted.status(), reqwest::StatusCode::ACCEPTED);
        assert_eq!(
            taken.load(Ordering::Relaxed),
            512,
            "the response was cut short"
        );

        let mut rx = host.invoke(serde_json::json!({"round": 1})).await.unwrap();
        let id = next_id(&http).await;
        let posted = http
            .post(format!("{api}/{id}/response"))
            .body("{\"ok\":true}")
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), reqwest::StatusCode::ACCEPTED);
        match rx.recv().await {
            Some(Reply::Chunk(c)) => assert_eq!(&c[..], b"{\"ok\":true}"),
            other => panic!("the next invocation's reply: {other:?}"),
        }
        let _ = std::fs::remove_file(log);
    }
}
