//! What the request-proxy tests share: the fixtures' token and session key, a local stand-in
//! for the AgentCore Runtime endpoint (wiremock on 127.0.0.1), the proxy's dependencies, and
//! one call through its router.
#![allow(dead_code)] // each test crate uses a different subset

use std::sync::Arc;
use std::time::Duration;

use lambda_http::tower::ServiceExt as _;
use request_proxy::{Config, Deps, router};
use serde_json::Value;
use tenant_context::TierCatalog;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request as Received, ResponseTemplate};

pub const BASIC_ARN: &str =
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/tenantry_basic-AAAAAAAAAA";
pub const PREMIUM_ARN: &str =
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/tenantry_premium-BBBBBBBBBB";

/// The fixtures' token: unsigned (the proxy does not verify signatures, the runtime does), its
/// claims the user the fixtures' authorizer context names (clinic-a, basic, clinician).
pub const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3Qta2V5LTEifQ.eyJzdWIiOiI2ZjFjMWE1Mi00ZDNlLTRjMWEtOWE1Ny0wZDhiN2IwZjdhMTEiLCJ0b2tlbl91c2UiOiJpZCIsImN1c3RvbTp0aWVyIjoiYmFzaWMiLCJjdXN0b206Y2xpbmljX2lkIjoiY2xpbmljLWEiLCJjdXN0b206cm9sZSI6ImNsaW5pY2lhbiIsImV4cCI6NDEwMjQ0NDgwMH0.bm90LXNpZ25lZA";

/// The session key of these tests (32 bytes, base64); the agent runtime checks ids with it.
pub const SESSION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A session id issued by the proxy to the fixtures' user (clinic-a, basic).
pub fn bound_session(clinic: &str) -> String {
    bound_session_issued(clinic, None)
}

/// `bound_session`, issued at `issued_at` (Unix seconds) instead of now.
pub fn bound_session_issued(clinic: &str, issued_at: Option<u64>) -> String {
    use tenant_context::{ClinicId, Role, SessionBinder, TenantContext, UserKey};
    let ctx = TenantContext::new(
        TierCatalog::embedded().unwrap().tier("basic").unwrap(),
        ClinicId::parse(clinic).unwrap(),
        UserKey::parse("6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11").unwrap(),
        Role::parse("clinician").unwrap(),
    );
    let binder = SessionBinder::from_base64(SESSION_KEY).unwrap();
    match issued_at {
        Some(at) => binder.issue_at(&ctx, at, [3; 12]).to_string(),
        None => binder.issue(&ctx).unwrap().to_string(),
    }
}

#[macro_export]
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../events/request-proxy/", $name))
    };
}

pub async fn runtime(reply: ResponseTemplate) -> MockServer {
    let server = MockServer::builder().start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/runtimes/[^/]+/invocations$"))
        .respond_with(reply)
        .mount(&server)
        .await;
    server
}

pub fn deps(endpoint: &str, timeout: Duration) -> Arc<Deps> {
    let catalog = TierCatalog::embedded().unwrap();
    let config = Config::from_lookup(
        |k| match k {
            "TENANTRY_RUNTIME_ARN_BASIC" => Some(BASIC_ARN.to_owned()),
            "TENANTRY_RUNTIME_ARN_PREMIUM" => Some(PREMIUM_ARN.to_owned()),
            "TENANTRY_RUNTIME_ENDPOINT" => Some(endpoint.to_owned()),
            "TENANTRY_MAX_PROMPT_BYTES" => Some("1024".to_owned()),
            "TENANTRY_MAX_RESPONSE_BYTES" => Some("4096".to_owned()),
            "TENANTRY_SESSION_KEY" => Some(SESSION_KEY.to_owned()),
            _ => None,
        },
        &catalog,
    )
    .unwrap();
    let http = reqwest::Client::builder().timeout(timeout).build().unwrap();
    Arc::new(Deps {
        sessions: tenant_context::SessionBinder::from_base64(SESSION_KEY).unwrap(),
        config,
        catalog,
        runtime: request_proxy::runtime::RuntimeClient::with_static_keys(
            http,
            &proxy_role().access_key,
            &proxy_role().secret,
            testkit::STANDIN_REGION,
        ),
        usage: None,
        audit: None,
        registry: None,
    })
}

/// The proxy role's local stand-in (what the Runtime emulation lets in).
pub fn proxy_role() -> emulators::iam::LocalPrincipal {
    emulators::iam::LocalPrincipal::request_proxy()
}

/// Whether `req` is InvokeAgentRuntime as the Runtime's IAM auth accepts it: signed by the
/// proxy's role (checked by recomputing the signature) and carrying `token` in the
/// allow-listed ID-token header, with no Bearer token anywhere.
pub fn signed_by_the_proxy_with(req: &Received, token: &str) -> Result<(), String> {
    let check = emulators::iam::SigV4Check::new(
        "bedrock-agentcore",
        testkit::STANDIN_REGION,
        &[proxy_role()],
        &["basic", "premium"],
    );
    let uri: http::Uri = req
        .url
        .as_str()
        .strip_prefix(&format!("{}://{}", req.url.scheme(), req.url.authority()))
        .unwrap_or("/")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let method: http::Method = req.method.as_str().parse().map_err(|e| format!("{e}"))?;
    check
        .check(&method, &uri, &req.headers, &req.body)
        .map_err(|e| format!("not signed by the proxy's role: {e}"))?;
    let carried = req
        .headers
        .get_all(contracts::headers::RUNTIME_ID_TOKEN)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>();
    if carried != [token] {
        return Err(format!("the ID-token header carries {carried:?}"));
    }
    Ok(())
}

/// The same dependencies counting into `meter`.
pub fn deps_with_usage(
    endpoint: &str,
    timeout: Duration,
    meter: usage_meter::UsageMeter,
) -> Arc<Deps> {
    let mut d = Arc::try_unwrap(deps(endpoint, timeout)).ok().unwrap();
    d.usage = Some(meter);
    Arc::new(d)
}

/// Runs one API Gateway event through the router: (status, headers, body).
pub async fn call(deps: Arc<Deps>, event: &str) -> (u16, http::HeaderMap, Vec<u8>) {
    let req = lambda_http::request::from_str(event).expect("an API Gateway REST event");
    let resp = router(deps).oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, headers, body)
}

pub fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).unwrap()["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

pub async fn only_request(server: &MockServer) -> Received {
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "exactly one call to the runtime");
    requests.remove(0)
}

pub fn with_body(event: &str, body: &str) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["body"] = body.into();
    v.to_string()
}

/// An unsigned JWT with these claims: what a caller can forge (the proxy compares claims with
/// the authorizer's context; the runtime verifies signatures).
pub fn unsigned_token(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        b64(&serde_json::json!({"alg": "RS256"})),
        b64(claims)
    )
}

/// The fixtures' user's claims (clinic-a, basic, clinician).
pub fn clinic_a_claims() -> Value {
    serde_json::json!({
        "sub": "6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11",
        "custom:tier": "basic",
        "custom:clinic_id": "clinic-a",
        "custom:role": "clinician",
    })
}

/// `event` as sent by clinic-a's user with `role`: in the authorizer's context and in the
/// bearer token alike.
pub fn as_role(event: &str, role: &str) -> String {
    let mut claims = clinic_a_claims();
    claims["custom:role"] = role.into();
    let token = format!("Bearer {}", unsigned_token(&claims));
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["requestContext"]["authorizer"]["custom:role"] = role.into();
    v["headers"]["Authorization"] = token.clone().into();
    v["multiValueHeaders"]["Authorization"] = serde_json::json!([token]);
    v.to_string()
}
