//! A LOCAL plain-HTTP proxy in front of a stand-in or emulation (moto, dynalite, the model
//! stand-in, the Gateway and Memory emulations) that counts the requests it passes on by AWS
//! operation and records when the upstream was busy answering. Benchmarks and tests use it to
//! see what a process under test really calls (how many STS AssumeRole calls under concurrent
//! load; how much of a call's time was spent waiting on DynamoDB or the model), which no
//! stand-in reports.
//!
//! The operation is read as the SDKs send it: the `X-Amz-Target` header of JSON protocols
//! (DynamoDB: `DynamoDB_20120810.Query`), else the `Action` parameter of query protocols
//! (STS: `AssumeRole`), else the method and path. A request is busy from its arrival here to
//! the last byte of its answer; answers are streamed through as they come (MCP and model
//! replies may be event streams), and a `GET` event stream, which stays open for the session,
//! is counted but not recorded as busy. Nothing is changed on the way, the `Host` header
//! included: the Gateway emulation behind it checks SigV4 signatures, which cover `Host`.
//!
//! A proxy may also hold each request for a fixed delay before passing it on
//! ([`CountingProxy::start_with_delay`]), so a benchmark can give a stand-in that answers at
//! once the round trip a service in an AWS region would take; the delay counts as busy time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio_stream::StreamExt as _;

use testkit::Error;

struct Shared {
    upstream: String,
    delay: Duration,
    http: reqwest::Client,
    calls: Mutex<BTreeMap<String, usize>>,
    busy: Mutex<Vec<(Instant, Instant)>>,
    upstream_nanos: AtomicU64,
}

impl Shared {
    fn record(&self, from: Instant, to: Instant) {
        let nanos = u64::try_from((to - from).as_nanos()).unwrap_or(u64::MAX);
        self.upstream_nanos.fetch_add(nanos, Ordering::SeqCst);
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((from, to));
    }
}

/// The running proxy; dropping it stops it.
pub struct CountingProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: crate::ServerTask,
}

impl CountingProxy {
    /// A proxy on 127.0.0.1 (a free port) in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Result<Self, Error> {
        Self::start_with_delay(upstream, Duration::ZERO).await
    }

    /// The same, holding every request `delay` before passing it on (a simulated round trip).
    pub async fn start_with_delay(upstream: &str, delay: Duration) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            delay,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(Error::call("build the proxy's HTTP client"))?,
            calls: Mutex::new(BTreeMap::new()),
            busy: Mutex::new(Vec::new()),
            upstream_nanos: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let (addr, server) = crate::serve_local(app, 0)
            .await
            .map_err(Error::call("start the counting proxy"))?;
        Ok(Self {
            addr,
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:<port>` (for a TLS front in front of this proxy).
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// How many requests of `operation` passed (e.g. `AssumeRole`, `DynamoDB_20120810.Query`).
    pub fn count(&self, operation: &str) -> usize {
        self.calls().get(operation).copied().unwrap_or(0)
    }

    /// Requests passed so far, by operation.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        self.shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Total time requests were busy here, in nanoseconds, over every request so far (read
    /// before and after a sequential call to get that call's share).
    pub fn upstream_nanos(&self) -> u64 {
        self.shared.upstream_nanos.load(Ordering::SeqCst)
    }

    /// The intervals requests were busy here (arrival to last byte of the answer).
    pub fn busy(&self) -> Vec<(Instant, Instant)> {
        self.shared
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// How long, within `from..to`, at least one of `intervals` was busy: calls made in parallel
/// count once.
pub fn busy_within(intervals: &[(Instant, Instant)], from: Instant, to: Instant) -> Duration {
    let mut clipped: Vec<(Instant, Instant)> = intervals
        .iter()
        .map(|&(a, b)| (a.max(from), b.min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    clipped.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (a, b) in clipped {
        current = match current {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((a, b)) = current {
        total += b - a;
    }
    total
}

/// The AWS operation a request names (see the module documentation).
pub fn operation(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.to_owned();
    }
    let form = uri.query().map(str::as_bytes).into_iter().chain([body]);
    for part in form {
        if let Some(action) = percent_encoding::percent_decode(part)
            .decode_utf8_lossy()
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
        {
            return action.to_owned();
        }
    }
    format!("{method} {}", uri.path())
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let op = operation(&method, &uri, &headers, &body);
    *shared
        .calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(op)
        .or_default() += 1;
    let long_lived = method == Method::GET
        && headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/event-stream"));
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared
        .http
        .request(method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return (StatusCode::BAD_GATEWAY, format!("counting proxy: {e}")).into_response();
        }
    };
    let status = answer.status();
    let mut out_headers = answer.headers().clone();
    out_headers.remove("transfer-encoding");
    out_headers.remove("content-length");
    out_headers.remove("connection");
    let done = BusyUntilDropped {
        shared: (!long_lived).then(|| shared.clone()),
        arrived,
    };
    let stream = answer.bytes_stream().map(move |chunk| {
        let _keep = &done;
        chunk
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    response
}

/// Records the request as busy until its answer's stream is finished (or dropped).
struct BusyUntilDropped {
    shared: Option<Arc<Shared>>,
    arrived: Instant,
}

impl Drop for BusyUntilDropped {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.record(self.arrived, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(uri: &str, headers: &[(&str, &str)], body: &str) -> String {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        operation(&Method::POST, &uri.parse().unwrap(), &h, body.as_bytes())
    }

    #[test]
    fn operations_are_named_as_the_sdks_send_them() {
        assert_eq!(
            op("/", &[("x-amz-target", "DynamoDB_20120810.Query")], "{}"),
            "DynamoDB_20120810.Query"
        );
        assert_eq!(
            op("/", &[], "Action=AssumeRole&Version=2011-06-15"),
            "AssumeRole"
        );
        assert_eq!(
            op("/?Version=2011-06-15&Action=GetCallerIdentity", &[], ""),
            "GetCallerIdentity"
        );
        assert_eq!(op("/x/y", &[], "plain"), "POST /x/y");
    }

    #[test]
    fn parallel_busy_time_counts_once() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let spans = [
            (t, t + ms(10)),
            (t + ms(5), t + ms(12)),
            (t + ms(20), t + ms(25)),
        ];
        assert_eq!(busy_within(&spans, t, t + ms(30)), ms(17));
        assert_eq!(busy_within(&spans, t + ms(11), t + ms(22)), ms(3));
        assert_eq!(busy_within(&[], t, t + ms(1)), Duration::ZERO);
    }
}
