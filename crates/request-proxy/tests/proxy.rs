//! The proxy on the API Gateway events of events/request-proxy, against a local server standing
//! in for the AgentCore Runtime endpoint (wiremock on 127.0.0.1): the exact request it sends,
//! that no tenant field comes from the caller, and every refusal.

use std::time::Duration;

use request_proxy::Config;
use serde_json::{Value, json};
use tenant_context::TierCatalog;
use wiremock::ResponseTemplate;

mod support;

use support::*;

#[tokio::test]
async fn forwards_exactly_the_signed_invocation_to_the_tiers_runtime() {
    let server = runtime(
        ResponseTemplate::new(200).set_body_raw(r#"{"answer":"8-18"}"#, "application/json"),
    )
    .await;
    let (status, headers, body) = call(
        deps(&server.uri(), Duration::from_secs(5)),
        fixture!("invoke-clinic-a.json"),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, br#"{"answer":"8-18"}"#);
    let req = only_request(&server).await;
    assert_eq!(
        req.url.path(),
        "/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Ftenantry_basic-AAAAAAAAAA/invocations"
    );
    assert_eq!(req.url.query(), Some("qualifier=DEFAULT"));
    let h = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    // SigV4 by the proxy's role (the runtimes are on IAM inbound auth), the caller's own
    // token in the allow-listed header for the agent to verify.
    support::signed_by_the_proxy_with(&req, TOKEN).unwrap();
    assert!(h("authorization").starts_with("AWS4-HMAC-SHA256 "));
    assert_eq!(h("accept"), "text/event-stream, application/json");
    let session = h("x-amzn-bedrock-agentcore-runtime-session-id");
    assert!((33..=256).contains(&session.len()), "{session}");
    // Issued to the caller: the agent runtime, holding the same key, will accept it from
    // this user only.
    let binder = tenant_context::SessionBinder::from_base64(SESSION_KEY).unwrap();
    let id = tenant_context::RuntimeSessionId::parse(&session).unwrap();
    let owner = tenant_context::TenantContext::new(
        TierCatalog::embedded().unwrap().tier("basic").unwrap(),
        tenant_context::ClinicId::parse("clinic-a").unwrap(),
        tenant_context::UserKey::parse("6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11").unwrap(),
        tenant_context::Role::parse("clinician").unwrap(),
    );
    assert!(binder.check(&owner, &id).is_ok());
    assert_eq!(
        headers.get("x-tenantry-session-id").unwrap(),
        session.as_str()
    );
    let sent: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        sent,
        json!({"prompt": "Summarise the clinic's opening hours."}),
        "only the prompt, no tenant field"
    );
}

#[tokio::test]
async fn headers_from_the_caller_change_nothing() {
    let server = runtime(ResponseTemplate::new(200).set_body_raw("{}", "application/json")).await;
    let (status, _, _) = call(
        deps(&server.uri(), Duration::from_secs(5)),
        fixture!("invoke-clinic-a-forged-headers.json"),
    )
    .await;
    assert_eq!(status, 200);
    let req = only_request(&server).await;
    assert!(
        req.url.path().contains("tenantry_basic"),
        "X-Tier: premium did not pick the premium runtime"
    );
    assert!(!req.url.path().contains("premium"));
    for forged in ["x-tier", "x-clinic-id", "x-s3-prefix"] {
        assert!(
            req.headers.get(forged).is_none(),
            "{forged} is not passed on"
        );
    }
    assert_eq!(
        serde_json::from_slice::<Value>(&req.body).unwrap(),
        json!({"prompt": "Show hospital data."})
    );
}

#[tokio::test]
async fn session_ids_are_issued_to_the_caller_and_accepted_only_from_them() {
    let server = runtime(ResponseTemplate::new(200).set_body_raw("{}", "application/json")).await;
    let d = deps(&server.uri(), Duration::from_secs(5));
    let base = fixture!("invoke-clinic-a.json");
    // The caller's own session id, issued earlier, is kept.
    let own = bound_session("clinic-a");
    let body = json!({"prompt": "And the next patient?", "session_id": own}).to_string();
    let (status, headers, _) = call(d.clone(), &with_body(base, &body)).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-tenantry-session-id").unwrap(), own.as_str());
    let req = only_request(&server).await;
    assert_eq!(
        req.headers
            .get("x-amzn-bedrock-agentcore-runtime-session-id")
            .unwrap(),
        own.as_str()
    );
    // Another user's id, or one the caller made up, never reaches the runtime.
    for foreign in [
        bound_session("clinic-b"),
        "clinic-a-session-0123456789abcdef0123".into(),
    ] {
        let body = json!({"prompt": "hi", "session_id": foreign}).to_string();
        let (status, _, body) = call(d.clone(), &with_body(base, &body)).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (403, "session_not_owned")
        );
    }
    // The caller's own id, older than a session lives: expired, and says what to do.
    let day_old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 24 * 3600;
    let old = support::bound_session_issued("clinic-a", Some(day_old));
    let body = json!({"prompt": "hi", "session_id": old}).to_string();
    let (status, _, body) = call(d.clone(), &with_body(base, &body)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (403, "session_expired")
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_requests_are_refused_before_the_runtime() {
    let server = runtime(ResponseTemplate::new(200)).await;
    let d = deps(&server.uri(), Duration::from_secs(5));
    let base = fixture!("invoke-clinic-a.json");
    let huge = json!({"prompt": "x".repeat(2000)}).to_string();
    let bad_session = json!({"prompt": "hi", "session_id": "too-short"}).to_string();
    let cases = [
        (
            fixture!("invoke-tenant-in-body.json").to_owned(),
            400,
            "bad_body",
        ),
        (
            fixture!("invoke-malformed-body.json").to_owned(),
            400,
            "bad_body",
        ),
        (
            fixture!("invoke-no-authorizer.json").to_owned(),
            403,
            "no_tenant",
        ),
        (with_body(base, &huge), 413, "prompt_too_large"),
        (
            with_body(base, &"y".repeat(100_000)),
            413,
            "prompt_too_large",
        ),
        (with_body(base, &bad_session), 400, "bad_session_id"),
    ];
    for (event, status, code) in cases {
        let (got, _, body) = call(d.clone(), &event).await;
        assert_eq!(
            (got, error_code(&body)),
            (status, code.to_owned()),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let mut no_token: Value = serde_json::from_str(base).unwrap();
    no_token["headers"]
        .as_object_mut()
        .unwrap()
        .remove("Authorization");
    no_token["multiValueHeaders"]
        .as_object_mut()
        .unwrap()
        .remove("Authorization");
    let (got, _, body) = call(d.clone(), &no_token.to_string()).await;
    assert_eq!((got, error_code(&body).as_str()), (401, "no_token"));
    let mut other_path: Value = serde_json::from_str(base).unwrap();
    other_path["path"] =
        "/runtimes/arn:aws:bedrock-agentcore:us-east-1:1:runtime/x/invocations".into();
    let (got, _, body) = call(d.clone(), &other_path.to_string()).await;
    assert_eq!(
        (got, error_code(&body).as_str()),
        (404, "not_found"),
        "no caller-chosen runtime path"
    );
    // Found by the proxy_event fuzz target: another method got an empty 405, not a typed one.
    for m in ["GET", "PUT", "DELETE", "P*ST"] {
        let mut other_method: Value = serde_json::from_str(base).unwrap();
        other_method["httpMethod"] = m.into();
        other_method["requestContext"]["httpMethod"] = m.into();
        let (got, _, body) = call(d.clone(), &other_method.to_string()).await;
        assert_eq!(
            (got, error_code(&body).as_str()),
            (405, "method_not_allowed"),
            "{m}"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn runtime_failures_become_clear_client_errors() {
    let cases = [
        (ResponseTemplate::new(401), 401, "runtime_unauthorized"),
        (ResponseTemplate::new(403), 403, "runtime_forbidden"),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "7"),
            429,
            "runtime_throttled",
        ),
        (ResponseTemplate::new(500), 502, "runtime_failed"),
        (
            ResponseTemplate::new(200).set_body_raw("z".repeat(5000), "text/plain"),
            502,
            "runtime_response_too_large",
        ),
        (
            ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)),
            504,
            "runtime_timeout",
        ),
    ];
    for (reply, status, code) in cases {
        let server = runtime(reply).await;
        let (got, headers, body) = call(
            deps(&server.uri(), Duration::from_millis(500)),
            fixture!("invoke-clinic-a.json"),
        )
        .await;
        assert_eq!((got, error_code(&body)), (status, code.to_owned()));
        if status == 429 {
            assert_eq!(headers.get("retry-after").unwrap(), "7");
        }
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("test-token") && !text.contains("127.0.0.1"),
            "opaque: {text}"
        );
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (got, _, body) = call(
        deps(&dead, Duration::from_secs(2)),
        fixture!("invoke-clinic-a.json"),
    )
    .await;
    assert_eq!((got, error_code(&body).as_str()), (502, "runtime_failed"));
}

#[test]
fn configuration_is_checked() {
    let catalog = TierCatalog::embedded().unwrap();
    let env = |over: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            over.iter()
                .find(|(kk, _)| *kk == k)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| match k {
                    "TENANTRY_RUNTIME_ARN_BASIC" => Some(BASIC_ARN.to_owned()),
                    "TENANTRY_RUNTIME_ARN_PREMIUM" => Some(PREMIUM_ARN.to_owned()),
                    "AWS_REGION" => Some("us-east-1".to_owned()),
                    "TENANTRY_SESSION_KEY" => Some(SESSION_KEY.to_owned()),
                    _ => None,
                })
        }
    };
    let ok = Config::from_lookup(env(&[]), &catalog).unwrap();
    assert_eq!(
        ok.runtime_endpoint,
        "https://bedrock-agentcore.us-east-1.amazonaws.com"
    );
    for bad in [
        &[("TENANTRY_RUNTIME_ARN_PREMIUM", "")][..],
        &[(
            "TENANTRY_RUNTIME_ARN_BASIC",
            "arn:aws:lambda:us-east-1:1:function:x",
        )][..],
        &[("TENANTRY_RUNTIME_ARN_BASIC", "not an arn")][..],
        &[("TENANTRY_RUNTIME_ENDPOINT", "http://bedrock.example.com")][..],
        &[("TENANTRY_MAX_PROMPT_BYTES", "0")][..],
        &[("TENANTRY_SESSION_KEY", "")][..],
        &[("TENANTRY_SESSION_KEY", "c2hvcnQ=")][..],
        &[("TENANTRY_RESPONSE_MODE", "chunked")][..],
    ] {
        assert!(Config::from_lookup(env(bad), &catalog).is_err(), "{bad:?}");
    }
    use request_proxy::config::ResponseMode;
    assert_eq!(
        ok.response_mode,
        ResponseMode::Buffered,
        "buffered unless told"
    );
    let streaming = Config::from_lookup(env(&[("TENANTRY_RESPONSE_MODE", "stream")]), &catalog);
    assert_eq!(streaming.unwrap().response_mode, ResponseMode::Stream);
}

#[tokio::test]
async fn logs_the_tenant_line_but_never_the_token_or_prompt() {
    let (logs, _guard) =
        testkit::logs::LogCapture::start(telemetry::logging::filter(Some("trace")));
    let server = runtime(ResponseTemplate::new(200).set_body_raw("{}", "application/json")).await;
    let (status, _, _) = call(
        deps(&server.uri(), Duration::from_secs(5)),
        fixture!("invoke-clinic-a.json"),
    )
    .await;
    assert_eq!(status, 200);
    let text = logs.text();
    assert!(
        text.contains("Tier: basic, Clinic ID: clinic-a, User ID: 6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11, Role: clinician"),
        "{text}"
    );
    assert!(
        text.contains(r#""clinic_id":"clinic-a""#),
        "structured fields too"
    );
    assert!(!text.contains(TOKEN), "no token in the logs");
    assert!(
        !text.contains("opening hours"),
        "no prompt text in the logs"
    );
}

/// The token forwarded is the one the authorizer verified: a token naming another user, tier,
/// clinic or role than the authorizer's context, a token that is no JWT, and a second
/// `Authorization` value are all refused before the runtime is called.
#[tokio::test]
async fn only_the_token_the_authorizer_verified_is_forwarded() {
    let server = runtime(ResponseTemplate::new(200).set_body_string("{}")).await;
    let d = deps(&server.uri(), Duration::from_secs(5));
    let base = fixture!("invoke-clinic-a.json");
    let unsigned = |claims: Value| unsigned_token(&claims);
    let claims = clinic_a_claims();
    let with_token = |value: Value| {
        let mut v: Value = serde_json::from_str(base).unwrap();
        v["headers"]["Authorization"] = value.clone();
        v["multiValueHeaders"]["Authorization"] = match value {
            Value::Array(_) => value,
            one => json!([one]),
        };
        if let Value::Array(values) = &v["multiValueHeaders"]["Authorization"] {
            // API Gateway's single-value map holds the last value of a repeated header.
            v["headers"]["Authorization"] = values.last().cloned().unwrap_or(Value::Null);
        }
        v.to_string()
    };
    let mut cases = Vec::new();
    for (claim, other) in [
        ("sub", "0b0c0d0e-0000-4000-8000-000000000000"),
        ("custom:tier", "premium"),
        ("custom:clinic_id", "clinic-b"),
        ("custom:role", "admin"),
    ] {
        let mut c = claims.clone();
        c[claim] = other.into();
        cases.push((
            claim.to_owned(),
            with_token(json!(format!("Bearer {}", unsigned(c)))),
        ));
    }
    cases.push(("not a JWT".into(), with_token(json!("Bearer opaque-token"))));
    // Two values: the authorizer may have verified the first while the proxy reads the last.
    let suspended_clinics = {
        let mut c = claims.clone();
        c["custom:clinic_id"] = "clinic-c".into();
        unsigned(c)
    };
    cases.push((
        "two Authorization values".into(),
        with_token(json!([
            format!("Bearer {TOKEN}"),
            format!("Bearer {suspended_clinics}")
        ])),
    ));
    for (name, event) in cases {
        let (status, _, body) = call(d.clone(), &event).await;
        assert_eq!(
            (status, error_code(&body).as_str()),
            (401, "token_mismatch"),
            "{name}"
        );
    }
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing reached the runtime"
    );
    // The same claims as the authorizer's: forwarded.
    let (status, _, _) = call(
        d,
        &with_token(json!(format!("Bearer {}", unsigned(claims)))),
    )
    .await;
    assert_eq!(status, 200);
}
