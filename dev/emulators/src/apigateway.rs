//! The LOCAL EMULATION of the API Gateway REST API in front of Tenantry (`POST /{stage}/invoke`,
//! `GET /{stage}/usage`), driving the real `tenant-authorizer` and `request-proxy` functions on
//! the Lambda stand-in. It does what the deployed API does with a request, in the same order:
//!
//! 1. route: only the template's methods (`routes_from_template`); anything else is API
//!    Gateway's 403 `Missing Authentication Token`;
//! 2. the TOKEN authorizer: the `Authorization` header must match the template's
//!    `IdentityValidationExpression` (else 401 without calling the function); the function gets
//!    `{"type": "TOKEN", "authorizationToken", "methodArn"}`; its policy is cached per token for
//!    the template's `AuthorizerResultTtlInSeconds`; `Unauthorized` is 401, a Deny 403;
//! 3. `apiKeySource: AUTHORIZER`, for methods with `ApiKeyRequired` (steps 3 and 4 are skipped
//!    for the others): the policy's `usageIdentifierKey` must be an enabled API key in a usage
//!    plan (read from the API Gateway stand-in, where tenant-admin put them), else 403;
//! 4. the key's usage plan: throttling as a token bucket (rate per second, burst) and the quota
//!    per period; over either: 429 with API Gateway's body;
//! 5. the proxy integration: `request-proxy` gets the REST proxy event with the authorizer's
//!    context, and its reply becomes the HTTP response.
//!
//! Known differences from AWS: one API, one level of resources, no query strings; error bodies
//! as API Gateway sends them, but no `x-amzn-RequestId` tracing across hops; the key/plan association is re-read every few
//! seconds, not pushed; quotas count in UTC days/weeks/months from process start; responses are
//! buffered (no response streaming yet); no WAF.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use testkit::Error;

/// API Gateway's payload limit.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// How long a key's plan is trusted before it is read again from the stand-in.
const PLAN_REFRESH: Duration = Duration::from_secs(5);

/// The authorizer's settings, as the template declares them.
#[derive(Debug, Clone)]
pub struct AuthorizerSettings {
    pub function: String,
    pub identity_validation: regex::Regex,
    pub ttl: Duration,
}

impl AuthorizerSettings {
    /// Reads the TOKEN authorizer of `template` (infra/template.json), whose function is
    /// invoked as `function` on the Lambda stand-in.
    pub fn from_template(template: &Value, function: &str) -> Result<Self, Error> {
        let authorizer = template["Resources"]
            .as_object()
            .and_then(|r| {
                r.values()
                    .find(|v| v["Type"] == "AWS::ApiGateway::Authorizer")
            })
            .ok_or_else(|| Error::Config("the template has no API Gateway authorizer".into()))?;
        let p = &authorizer["Properties"];
        if p["Type"] != "TOKEN" || p["IdentitySource"] != "method.request.header.Authorization" {
            return Err(Error::Config(
                "the emulation knows TOKEN authorizers on the Authorization header only".into(),
            ));
        }
        let expression = p["IdentityValidationExpression"].as_str().unwrap_or(".*");
        Ok(Self {
            function: function.to_owned(),
            identity_validation: regex::Regex::new(expression)
                .map_err(|e| Error::Config(format!("IdentityValidationExpression: {e}")))?,
            ttl: Duration::from_secs(p["AuthorizerResultTtlInSeconds"].as_u64().unwrap_or(300)),
        })
    }
}

pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// Calls a function on the Lambda stand-in: `Ok(reply)` or `Err(its error object)`.
pub type Invoke =
    Arc<dyn Fn(String, Value) -> BoxFuture<Result<Result<Value, Value>, Error>> + Send + Sync>;

/// Calls a function with InvokeWithResponseStream: its bytes as they come.
pub type InvokeStream = Arc<
    dyn Fn(
            String,
            Value,
        ) -> BoxFuture<Result<tokio::sync::mpsc::Receiver<Result<Bytes, String>>, Error>>
        + Send
        + Sync,
>;

/// How the proxy integration answers, as the template's `ResponseTransferMode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    Buffered,
    Stream,
}

impl TransferMode {
    /// The mode of the template's (one) Lambda proxy integration.
    pub fn from_template(template: &Value) -> Self {
        let streaming = template["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, r)| {
                r["Type"] == "AWS::ApiGateway::Method"
                    && r["Properties"]["Integration"]["ResponseTransferMode"] == "STREAM"
            });
        if streaming {
            Self::Stream
        } else {
            Self::Buffered
        }
    }
}

/// One method of the API: `POST /invoke`, say.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub method: Method,
    /// `/invoke`: the resource path under the stage.
    pub path: String,
    /// Whether the method meters the caller's API key (usage plan throttle and quota).
    pub api_key_required: bool,
}

/// The template's methods (one level of resources under the root, as the template has).
pub fn routes_from_template(template: &Value) -> Vec<Route> {
    let resources = template["Resources"].as_object();
    resources
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"] == "AWS::ApiGateway::Method")
        .filter_map(|(_, r)| {
            let p = &r["Properties"];
            let resource = p["ResourceId"]["Ref"].as_str()?;
            let part = template["Resources"][resource]["Properties"]["PathPart"].as_str()?;
            Some(Route {
                method: Method::from_bytes(p["HttpMethod"].as_str()?.as_bytes()).ok()?,
                path: format!("/{part}"),
                api_key_required: p["ApiKeyRequired"] == true,
            })
        })
        .collect()
}

pub struct ApiGatewayConfig {
    /// The methods the API serves (`routes_from_template`).
    pub routes: Vec<Route>,
    pub stage: String,
    pub api_id: String,
    pub account_id: String,
    pub region: String,
    pub authorizer: AuthorizerSettings,
    pub proxy_function: String,
    pub invoke: Invoke,
    pub invoke_stream: InvokeStream,
    pub transfer_mode: TransferMode,
    /// The API Gateway stand-in (moto), where the keys and usage plans live.
    pub apigateway: aws_sdk_apigateway::Client,
}

/// An authorizer's answer, cached per identity for the TTL and judged against each request's
/// own method ARN (as API Gateway does: a policy cached for `POST /invoke` may or may not cover
/// `GET /usage`).
#[derive(Debug, Clone)]
struct Policy {
    statements: Vec<Value>,
    principal_id: String,
    context: serde_json::Map<String, Value>,
    usage_key: Option<String>,
}

#[derive(Debug, Clone)]
struct Plan {
    rate: f64,
    burst: f64,
    quota: Option<(u64, String)>,
}

#[derive(Debug, Clone)]
struct KeyInfo {
    id: String,
    plan: Plan,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Default)]
struct Meters {
    buckets: HashMap<String, Bucket>,
    /// (key id, period index) -> requests counted.
    quota: HashMap<(String, u64), u64>,
}

struct Inner {
    config: ApiGatewayConfig,
    policies: Mutex<HashMap<String, (Instant, Policy)>>,
    keys: Mutex<(Option<Instant>, HashMap<String, KeyInfo>)>,
    meters: Mutex<Meters>,
    requests: AtomicU64,
    authorizer_calls: AtomicU64,
}

/// A running emulation; dropping it stops the server.
pub struct ApiGatewayEmulation {
    addr: SocketAddr,
    inner: Arc<Inner>,
    _server: crate::ServerTask,
}

impl ApiGatewayEmulation {
    pub async fn start(config: ApiGatewayConfig, port: u16) -> Result<Self, Error> {
        let inner = Arc::new(Inner {
            config,
            policies: Mutex::new(HashMap::new()),
            keys: Mutex::new((None, HashMap::new())),
            meters: Mutex::new(Meters::default()),
            requests: AtomicU64::new(0),
            authorizer_calls: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::any(handle))
            .with_state(inner.clone());
        let (addr, server) = crate::serve_local(app, port)
            .await
            .map_err(Error::call("start the API Gateway emulation"))?;
        Ok(Self {
            addr,
            inner,
            _server: server,
        })
    }

    /// The stage's invoke URL: `POST {invoke_url}` is the API.
    /// `http://127.0.0.1:<port>`: the stage and resources are paths under it.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn invoke_url(&self) -> String {
        format!("http://{}/{}/invoke", self.addr, self.inner.config.stage)
    }

    /// `GET {usage_url}`: the caller's clinic's day.
    pub fn usage_url(&self) -> String {
        format!("http://{}/{}/usage", self.addr, self.inner.config.stage)
    }

    /// `GET {audit_url}?...`: the caller's clinic's PHI access audit trail.
    pub fn audit_url(&self) -> String {
        format!("http://{}/{}/audit", self.addr, self.inner.config.stage)
    }

    /// How many times the authorizer function ran (its results are cached per token).
    pub fn authorizer_calls(&self) -> u64 {
        self.inner.authorizer_calls.load(Ordering::Relaxed)
    }
}

/// An error as API Gateway answers it: its body and `x-amzn-ErrorType`.
fn gateway_error(status: StatusCode, kind: &str, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(kind) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

/// One of API Gateway's own refusals: `{"<key>": <message>}` with its error type.
fn refusal(status: StatusCode, kind: &str, key: &str, message: Option<&str>) -> Response {
    gateway_error(status, kind, json!({ key: message }))
}

fn unauthorized() -> Response {
    refusal(
        StatusCode::UNAUTHORIZED,
        "UnauthorizedException",
        "message",
        Some("Unauthorized"),
    )
}

fn denied() -> Response {
    let message = "User is not authorized to access this resource with an explicit deny";
    refusal(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        "Message",
        Some(message),
    )
}

fn forbidden() -> Response {
    refusal(
        StatusCode::FORBIDDEN,
        "ForbiddenException",
        "message",
        Some("Forbidden"),
    )
}

fn internal() -> Response {
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    refusal(status, "AuthorizerConfigurationException", "message", None)
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    Path(path): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = inner.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("local-apigw-{n:08}");
    let path = path.trim_end_matches('/');
    let route = inner.config.routes.iter().find(|r| {
        r.method == method
            && path
                .strip_prefix(inner.config.stage.as_str())
                .is_some_and(|rest| rest == r.path)
    });
    let Some(route) = route.cloned() else {
        return gateway_error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            json!({"message": "Missing Authentication Token"}),
        );
    };
    if body.len() > MAX_BODY_BYTES {
        return gateway_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLarge",
            json!({"message": "Request Too Long"}),
        );
    }
    let response = match authorize_and_meter(&inner, &headers, &route).await {
        Ok((policy, key)) => {
            let admitted = Admitted {
                request_id: &request_id,
                headers: &headers,
                query: query.as_deref().unwrap_or(""),
                body: &body,
                policy: &policy,
                key: key.as_ref(),
                route: &route,
            };
            integrate(&inner, &admitted).await
        }
        Err(r) => r,
    };
    access_log(&request_id, &headers, &response);
    response
}

/// Steps 2 to 4: the authorizer's policy, the key, the plan's throttle and quota.
async fn authorize_and_meter(
    inner: &Inner,
    headers: &HeaderMap,
    route: &Route,
) -> Result<(Policy, Option<KeyInfo>), Response> {
    let Some(identity) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized());
    };
    if !inner
        .config
        .authorizer
        .identity_validation
        .is_match(identity)
    {
        return Err(unauthorized());
    }
    let method_arn = method_arn(&inner.config, route);
    let policy = policy_for(inner, identity, &method_arn).await?;
    if !policy.allows(&method_arn) {
        return Err(denied());
    }
    if !route.api_key_required {
        return Ok((policy, None));
    }
    let Some(value) = policy.usage_key.as_deref() else {
        return Err(forbidden());
    };
    let key = key_info(inner, value).await?.ok_or_else(forbidden)?;
    meter(inner, &key).await?;
    Ok((policy, Some(key)))
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}` of the matched route.
fn method_arn(c: &ApiGatewayConfig, route: &Route) -> String {
    format!(
        "arn:aws:execute-api:{}:{}:{}/{}/{}{}",
        c.region, c.account_id, c.api_id, c.stage, route.method, route.path
    )
}

impl Policy {
    /// Allowed only by an Allow statement on this method and no Deny (IAM's rule).
    fn allows(&self, method_arn: &str) -> bool {
        let covers = |s: &Value| {
            let resources: Vec<&str> = match &s["Resource"] {
                Value::String(r) => vec![r.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            resources.iter().any(|r| arn_matches(r, method_arn))
                && s["Action"].to_string().contains("execute-api:Invoke")
        };
        let effect = |e: &str| {
            self.statements
                .iter()
                .any(|s| s["Effect"] == e && covers(s))
        };
        !effect("Deny") && effect("Allow")
    }
}

async fn policy_for(inner: &Inner, identity: &str, method_arn: &str) -> Result<Policy, Response> {
    if let Some((at, p)) = inner.policies.lock().await.get(identity)
        && at.elapsed() < inner.config.authorizer.ttl
    {
        return Ok(p.clone());
    }
    inner.authorizer_calls.fetch_add(1, Ordering::Relaxed);
    let c = &inner.config;
    let event = json!({"type": "TOKEN", "authorizationToken": identity, "methodArn": method_arn});
    let reply = (c.invoke)(c.authorizer.function.clone(), event).await;
    let output = match reply {
        Ok(Ok(v)) => v,
        Ok(Err(e)) if e["errorMessage"] == "Unauthorized" => return Err(unauthorized()),
        // API Gateway says no more than this to the caller; the reason is for whoever runs it.
        Ok(Err(e)) => {
            tracing::warn!(target: "apigateway", error = %e, "the authorizer failed: 500");
            return Err(internal());
        }
        Err(e) => {
            tracing::warn!(target: "apigateway", error = %e, "the authorizer could not be invoked: 500");
            return Err(internal());
        }
    };
    let statements = output["policyDocument"]["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(principal_id) = output["principalId"].as_str().map(str::to_owned) else {
        return Err(internal());
    };
    let policy = Policy {
        statements,
        principal_id,
        context: output["context"].as_object().cloned().unwrap_or_default(),
        usage_key: output["usageIdentifierKey"].as_str().map(str::to_owned),
    };
    inner
        .policies
        .lock()
        .await
        .insert(identity.to_owned(), (Instant::now(), policy.clone()));
    Ok(policy)
}

/// IAM's wildcard match for execute-api ARNs (`*` any run of characters, `?` one).
fn arn_matches(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), arn.as_bytes())
}

/// The enabled key with this value and its usage plan, from the API Gateway stand-in.
async fn key_info(inner: &Inner, value: &str) -> Result<Option<KeyInfo>, Response> {
    let mut keys = inner.keys.lock().await;
    if keys.0.is_none_or(|at| at.elapsed() > PLAN_REFRESH) {
        keys.1 = load_keys(&inner.config.apigateway).await.map_err(|e| {
            tracing::warn!(target: "apigateway", error = %e, "the API keys could not be read: 500");
            internal()
        })?;
        keys.0 = Some(Instant::now());
    }
    Ok(keys.1.get(value).cloned())
}

async fn load_keys(
    apigw: &aws_sdk_apigateway::Client,
) -> Result<HashMap<String, KeyInfo>, Box<dyn std::error::Error + Send + Sync>> {
    let enabled: HashMap<String, bool> = apigw
        .get_api_keys()
        .limit(500)
        .send()
        .await?
        .items()
        .iter()
        .filter_map(|k| k.id().map(|id| (id.to_owned(), k.enabled())))
        .collect();
    let mut out = HashMap::new();
    for plan in apigw.get_usage_plans().limit(500).send().await?.items() {
        let Some(plan_id) = plan.id() else { continue };
        let throttle = plan.throttle();
        let p = Plan {
            rate: throttle.map_or(f64::INFINITY, |t| t.rate_limit()),
            burst: throttle.map_or(f64::INFINITY, |t| f64::from(t.burst_limit())),
            quota: plan.quota().map(|q| {
                (
                    q.limit().max(0) as u64,
                    q.period()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default(),
                )
            }),
        };
        let keys = apigw
            .get_usage_plan_keys()
            .usage_plan_id(plan_id)
            .limit(500)
            .send()
            .await?;
        for k in keys.items() {
            if let (Some(id), Some(value)) = (k.id(), k.value())
                && enabled.get(id).copied().unwrap_or(false)
            {
                out.insert(
                    value.to_owned(),
                    KeyInfo {
                        id: id.to_owned(),
                        plan: p.clone(),
                    },
                );
            }
        }
    }
    Ok(out)
}

fn period_index(period: &str) -> u64 {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    match period {
        "WEEK" => (days + 3) / 7, // weeks starting on Monday (1970-01-01 was a Thursday)
        "MONTH" => days / 30,     // an approximation: the emulation's own month
        _ => days,
    }
}

/// Throttle (token bucket) then quota, per key, as a usage plan meters them.
async fn meter(inner: &Inner, key: &KeyInfo) -> Result<(), Response> {
    let mut m = inner.meters.lock().await;
    let plan = &key.plan;
    let now = Instant::now();
    let bucket = m.buckets.entry(key.id.clone()).or_insert(Bucket {
        tokens: plan.burst,
        last: now,
    });
    let refill = now.duration_since(bucket.last).as_secs_f64() * plan.rate;
    bucket.tokens = (bucket.tokens + refill).min(plan.burst);
    bucket.last = now;
    if bucket.tokens < 1.0 {
        return Err(gateway_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            json!({"message": "Too Many Requests"}),
        ));
    }
    if let Some((limit, period)) = &plan.quota {
        let used = m
            .quota
            .entry((key.id.clone(), period_index(period)))
            .or_insert(0);
        if *used >= *limit {
            return Err(gateway_error(
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                json!({"message": "Limit Exceeded"}),
            ));
        }
        *used += 1;
    }
    if let Some(b) = m.buckets.get_mut(&key.id) {
        b.tokens -= 1.0;
    }
    Ok(())
}

/// A request the authorizer and the usage plan let through.
#[derive(Clone, Copy)]
struct Admitted<'a> {
    request_id: &'a str,
    headers: &'a HeaderMap,
    /// The raw query string (`a=1&b=2`), empty when there is none.
    query: &'a str,
    body: &'a Bytes,
    policy: &'a Policy,
    key: Option<&'a KeyInfo>,
    route: &'a Route,
}

/// Step 5: the REST proxy event for request-proxy, and its reply as the response.
async fn integrate(inner: &Inner, request: &Admitted<'_>) -> Response {
    let request_id = request.request_id;
    let event = proxy_event(inner, request);
    let mut response = match inner.config.transfer_mode {
        TransferMode::Buffered => buffered(inner, event).await,
        TransferMode::Stream => streamed(inner, event).await,
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}

fn bad_gateway() -> Response {
    gateway_error(
        StatusCode::BAD_GATEWAY,
        "InternalServerErrorException",
        json!({"message": "Internal server error"}),
    )
}

/// The response a proxy integration's metadata describes (`statusCode`, `headers`,
/// `multiValueHeaders`), with `body`.
fn response_from(meta: &Value, body: axum::body::Body) -> Option<Response> {
    let status = meta["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())?;
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let out = response.headers_mut();
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.append(n, v);
        }
    };
    match meta["multiValueHeaders"].as_object() {
        Some(m) if !m.is_empty() => {
            for (name, values) in m {
                for v in values.as_array().into_iter().flatten() {
                    if let Some(v) = v.as_str() {
                        put(name, v);
                    }
                }
            }
        }
        _ => {
            for (name, v) in meta["headers"].as_object().into_iter().flatten() {
                if let Some(v) = v.as_str() {
                    put(name, v);
                }
            }
        }
    }
    Some(response)
}

async fn buffered(inner: &Inner, event: Value) -> Response {
    let c = &inner.config;
    let reply = match (c.invoke)(c.proxy_function.clone(), event).await {
        Ok(Ok(v)) => v,
        _ => return bad_gateway(),
    };
    let text = reply["body"].as_str().unwrap_or_default().to_owned();
    // A proxy integration whose reply is not a proxy response: API Gateway's 502.
    response_from(&reply, axum::body::Body::from(text)).unwrap_or_else(bad_gateway)
}

/// Where API Gateway looks for the streaming delimiter: within the first 16 KB.
const PRELUDE_LIMIT: usize = 16 * 1024;

/// What the documented streaming format refuses in the metadata: keys other than `headers`,
/// `multiValueHeaders`, `cookies` and `statusCode`, or a header with more than one value in
/// `headers` (those belong in `multiValueHeaders`). `None` when it conforms.
pub fn prelude_problem(meta: &Value) -> Option<&'static str> {
    let object = meta.as_object()?;
    if object
        .keys()
        .any(|k| !["headers", "multiValueHeaders", "cookies", "statusCode"].contains(&k.as_str()))
    {
        return Some("metadata keys other than headers, multiValueHeaders, cookies, statusCode");
    }
    if meta["headers"]
        .as_object()
        .is_some_and(|h| h.values().any(|v| !v.is_string()))
    {
        return Some("a header with more than one value in headers");
    }
    None
}

/// A streamed reply outside the documented format: API Gateway answers 500.
fn stream_format_error(problem: &str) -> Response {
    tracing::warn!(target: "api_gateway_emulation", problem, "streamed reply outside the documented format");
    gateway_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerErrorException",
        json!({"message": "Internal server error"}),
    )
}

/// The streaming integration: the function's metadata JSON, eight NUL bytes within the first
/// 16 KB, then the payload, which is passed on as it arrives; the metadata held to the
/// documented format (`events/aws-samples/apigw-rest-streaming-response-format.txt`).
async fn streamed(inner: &Inner, event: Value) -> Response {
    const DELIMITER: &[u8] = &[0u8; 8];
    let c = &inner.config;
    let mut chunks = match (c.invoke_stream)(c.proxy_function.clone(), event).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(target: "api_gateway_emulation", error = %e, "streaming integration failed");
            return bad_gateway();
        }
    };
    let mut head: Vec<u8> = Vec::new();
    let (meta, rest) = loop {
        match chunks.recv().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            other => {
                tracing::warn!(
                    target: "api_gateway_emulation",
                    error = ?other.map(|r| r.err()),
                    received = head.len(),
                    "streaming integration ended before its metadata"
                );
                return bad_gateway();
            }
        }
        if let Some(at) = head.windows(DELIMITER.len()).position(|w| w == DELIMITER) {
            let meta: Value = match serde_json::from_slice(&head[..at]) {
                Ok(v) if at <= PRELUDE_LIMIT => v,
                _ => return stream_format_error("metadata that is not JSON within 16 KB"),
            };
            if let Some(problem) = prelude_problem(&meta) {
                return stream_format_error(problem);
            }
            break (meta, Bytes::copy_from_slice(&head[at + DELIMITER.len()..]));
        }
        if head.len() > PRELUDE_LIMIT + DELIMITER.len() {
            return stream_format_error("no delimiter within the first 16 KB");
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        if !rest.is_empty() && tx.send(Ok(rest)).await.is_err() {
            return;
        }
        while let Some(chunk) = chunks.recv().await {
            let item = chunk.map_err(std::io::Error::other);
            if tx.send(item).await.is_err() {
                return;
            }
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    response_from(&meta, body).unwrap_or_else(bad_gateway)
}

/// The REST proxy event, as API Gateway builds it for both transfer modes.
fn proxy_event(inner: &Inner, request: &Admitted<'_>) -> Value {
    let Admitted {
        request_id,
        headers,
        query,
        body,
        policy,
        key,
        route,
    } = *request;
    let c = &inner.config;
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (name, value) in headers {
        let Ok(v) = value.to_str() else { continue };
        let name = canonical_header(name.as_str());
        single.insert(name.clone(), Value::from(v));
        if let Some(values) = multi
            .entry(name)
            .or_insert_with(|| Value::Array(vec![]))
            .as_array_mut()
        {
            values.push(Value::from(v));
        }
    }
    // API Gateway passes the authorizer's context values as strings, numbers or booleans,
    // with principalId and integrationLatency beside them.
    let mut authorizer = policy.context.clone();
    authorizer.insert("principalId".into(), policy.principal_id.clone().into());
    authorizer.insert("integrationLatency".into(), 0.into());
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let (query_single, query_multi) = query_maps(query);
    let method = route.method.as_str();
    json!({
        "resource": route.path,
        "path": route.path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query_single,
        "multiValueQueryStringParameters": query_multi,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": c.account_id,
            "resourceId": "local",
            "stage": c.stage,
            "requestId": request_id,
            "requestTimeEpoch": now_ms,
            "identity": {"sourceIp": "127.0.0.1", "apiKeyId": key.map(|k| k.id.as_str())},
            "resourcePath": route.path,
            "httpMethod": method,
            "apiId": c.api_id,
            "path": format!("/{}{}", c.stage, route.path),
            "protocol": "HTTP/1.1",
            "authorizer": authorizer,
        },
        // API Gateway passes no body (null) for a request without one.
        "body": (!body.is_empty()).then(|| String::from_utf8_lossy(body)),
        "isBase64Encoded": false,
    })
}

/// The query string as the REST proxy integration passes it: `queryStringParameters` with the
/// last value of each name, `multiValueQueryStringParameters` with every value in order; both
/// null without a query string.
fn query_maps(query: &str) -> (Value, Value) {
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        single.insert(name.to_string(), Value::from(value.as_ref()));
        if let Some(values) = multi
            .entry(name.to_string())
            .or_insert_with(|| Value::Array(vec![]))
            .as_array_mut()
        {
            values.push(Value::from(value.as_ref()));
        }
    }
    if single.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (Value::Object(single), Value::Object(multi))
    }
}

/// Header names as clients usually spell them (`content-type` -> `Content-Type`); API Gateway
/// passes them as received, and HTTP/1 clients send this form.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// One line per request, like the stage's access log: no body, no token.
fn access_log(request_id: &str, headers: &HeaderMap, response: &Response) {
    tracing::info!(
        target: "api_gateway_emulation",
        request_id,
        status = response.status().as_u16(),
        error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        user_agent = headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        "api gateway request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_api_arns_match_with_iam_wildcards() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc/local/POST/invoke";
        assert!(arn_matches(arn, arn));
        assert!(arn_matches(
            "arn:aws:execute-api:us-east-1:123456789012:abc/*",
            arn
        ));
        assert!(arn_matches("arn:aws:execute-api:*:*:abc/local/POST/*", arn));
        assert!(!arn_matches(
            "arn:aws:execute-api:us-east-1:123456789012:xyz/*",
            arn
        ));
        assert!(!arn_matches(
            "arn:aws:execute-api:us-east-1:123456789012:abc/local/GET/invoke",
            arn
        ));
    }

    /// A policy is judged against the request's own route: one that allows only `POST /invoke`
    /// does not open `GET /usage` (the authorizer's stage wildcard is what opens both).
    #[test]
    fn a_cached_policy_is_judged_against_each_routes_method_arn() {
        let c = inner().config;
        let route = |m: &str| {
            c.routes
                .iter()
                .find(|r| r.method.as_str() == m)
                .unwrap()
                .clone()
        };
        let (invoke, usage) = (
            method_arn(&c, &route("POST")),
            method_arn(&c, &route("GET")),
        );
        assert_eq!(
            invoke,
            "arn:aws:execute-api:us-east-1:123456789012:api/local/POST/invoke"
        );
        assert_eq!(
            usage,
            "arn:aws:execute-api:us-east-1:123456789012:api/local/GET/usage"
        );
        let policy = |resource: &str| Policy {
            statements: vec![
                json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [resource]}),
            ],
            principal_id: "u".into(),
            context: Default::default(),
            usage_key: None,
        };
        let only_invoke = policy(&invoke);
        assert!(only_invoke.allows(&invoke));
        assert!(!only_invoke.allows(&usage));
        let stage = policy("arn:aws:execute-api:us-east-1:123456789012:api/local/*/*");
        assert!(stage.allows(&invoke) && stage.allows(&usage));
        let mut denied = stage.clone();
        denied
            .statements
            .push(json!({"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": usage}));
        assert!(denied.allows(&invoke) && !denied.allows(&usage));
    }

    fn inner() -> Inner {
        let template: Value =
            serde_json::from_str(include_str!("../../../infra/template.json")).unwrap();
        Inner {
            config: ApiGatewayConfig {
                routes: routes_from_template(&template),
                stage: "local".into(),
                api_id: "api".into(),
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
                authorizer: AuthorizerSettings::from_template(&template, "a").unwrap(),
                proxy_function: "p".into(),
                invoke: Arc::new(|_, _| Box::pin(async { Ok(Ok(Value::Null)) })),
                invoke_stream: Arc::new(|_, _| {
                    Box::pin(async { Ok(tokio::sync::mpsc::channel(1).1) })
                }),
                transfer_mode: TransferMode::Buffered,
                apigateway: aws_sdk_apigateway::Client::from_conf(
                    aws_sdk_apigateway::Config::builder()
                        .behavior_version(aws_sdk_apigateway::config::BehaviorVersion::latest())
                        .region(aws_sdk_apigateway::config::Region::new("us-east-1"))
                        .build(),
                ),
            },
            policies: Mutex::new(HashMap::new()),
            keys: Mutex::new((None, HashMap::new())),
            meters: Mutex::new(Meters::default()),
            requests: AtomicU64::new(0),
            authorizer_calls: AtomicU64::new(0),
        }
    }

    fn key(id: &str, rate: f64, burst: f64, quota: Option<u64>) -> KeyInfo {
        KeyInfo {
            id: id.into(),
            plan: Plan {
                rate,
                burst,
                quota: quota.map(|q| (q, "DAY".to_owned())),
            },
        }
    }

    fn kind(r: Result<(), Response>) -> Option<String> {
        r.err().map(|resp| {
            resp.headers()["x-amzn-errortype"]
                .to_str()
                .unwrap()
                .to_owned()
        })
    }

    #[tokio::test]
    async fn the_bucket_allows_the_burst_then_throttles_per_key() {
        let inner = inner();
        let a = key("a", 0.0001, 3.0, None);
        for _ in 0..3 {
            assert_eq!(kind(meter(&inner, &a).await), None);
        }
        assert_eq!(
            kind(meter(&inner, &a).await).as_deref(),
            Some("TooManyRequestsException")
        );
        // Another key of the same plan has its own bucket.
        assert_eq!(
            kind(meter(&inner, &key("b", 0.0001, 3.0, None)).await),
            None
        );
    }

    #[tokio::test]
    async fn the_quota_ends_the_day_for_its_key_only() {
        let inner = inner();
        let a = key("a", 1000.0, 1000.0, Some(2));
        assert_eq!(kind(meter(&inner, &a).await), None);
        assert_eq!(kind(meter(&inner, &a).await), None);
        assert_eq!(
            kind(meter(&inner, &a).await).as_deref(),
            Some("LimitExceededException")
        );
        assert_eq!(
            kind(meter(&inner, &key("b", 1000.0, 1000.0, Some(2))).await),
            None
        );
    }

    /// AWS's documented proxy event (`events/aws-samples/apigw-rest-proxy-request.json`) for
    /// `parameter1=value1&parameter1=value2&parameter2=value`: the multi-value map is the
    /// sample's exactly. Its single-value map has the sample's names and types; for the repeated
    /// name the sample shows the first value while API Gateway is reported to pass the last
    /// (aws-lambda-go #42), so that value is not compared: request-proxy refuses a repeated
    /// parameter from the multi-value map and never depends on which one is kept.
    #[test]
    fn the_query_string_is_passed_as_in_aws_sample_event() {
        let sample: Value = serde_json::from_str(include_str!(
            "../../../events/aws-samples/apigw-rest-proxy-request.json"
        ))
        .unwrap();
        let (single, multi) = query_maps("parameter1=value1&parameter1=value2&parameter2=value");
        assert_eq!(multi, sample["multiValueQueryStringParameters"]);
        let names = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&single), names(&sample["queryStringParameters"]));
        assert!(single.as_object().unwrap().values().all(Value::is_string));
        assert_eq!(
            single["parameter2"],
            sample["queryStringParameters"]["parameter2"]
        );
        assert_eq!(query_maps(""), (Value::Null, Value::Null));
    }

    #[test]
    fn the_routes_come_from_the_template() {
        let template: Value =
            serde_json::from_str(include_str!("../../../infra/template.json")).unwrap();
        let mut routes = routes_from_template(&template);
        routes.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(
            routes,
            [
                Route {
                    method: Method::GET,
                    path: "/audit".into(),
                    api_key_required: false
                },
                Route {
                    method: Method::POST,
                    path: "/invoke".into(),
                    api_key_required: true
                },
                Route {
                    method: Method::GET,
                    path: "/usage".into(),
                    api_key_required: false
                },
            ]
        );
    }

    #[test]
    fn the_shipped_template_streams_the_answer() {
        let template: Value =
            serde_json::from_str(include_str!("../../../infra/template.json")).unwrap();
        assert_eq!(TransferMode::from_template(&template), TransferMode::Stream);
        assert_eq!(
            TransferMode::from_template(&json!({"Resources": {}})),
            TransferMode::Buffered
        );
    }

    #[test]
    fn the_authorizer_settings_come_from_the_template() {
        let template: Value =
            serde_json::from_str(include_str!("../../../infra/template.json")).unwrap();
        let s = AuthorizerSettings::from_template(&template, "tenant-authorizer").unwrap();
        assert_eq!(s.ttl, Duration::from_secs(60));
        assert!(s.identity_validation.is_match("Bearer a.b.c"));
        assert!(!s.identity_validation.is_match("Basic abc"));
        assert!(!s.identity_validation.is_match("Bearer not-a-jwt"));
    }
}
