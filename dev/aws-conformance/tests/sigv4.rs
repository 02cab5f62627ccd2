//! Every signature the project builds by hand, byte for byte against AWS's own code for the
//! same credentials, Region, lifetime and time:
//!
//! - the short-term Bedrock API key (`request_signing::bedrock_short_term_key`) against AWS's
//!   `aws-bedrock-token-generator` (PyPI), which presigns a POST;
//! - the SigV4 headers of the OTLP span export to X-Ray (`request_signing::sign_request`,
//!   what `telemetry` calls for every export) against botocore's `SigV4Auth`;
//! - the SigV4 headers of request-proxy's InvokeAgentRuntime call
//!   (`request_signing::signature_headers` over the encoded runtime ARN and the ID-token header)
//!   against botocore's `SigV4Auth`. The agent's Gateway calls use the same function.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_conformance::aws_reference;
use aws_credential_types::Credentials;
use serde_json::json;

/// 2026-12-06T10:00:00Z
const TIME: u64 = 1_796_551_200;
const TIME_TEXT: &str = "2026-12-06T10:00:00Z";

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(TIME)
}

fn credentials(session: Option<&str>) -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session.map(str::to_owned),
        None,
        "test",
    )
}

#[test]
fn the_bedrock_key_is_the_official_generators_byte_for_byte() {
    let cases = [
        (Some("FwoGZXIvYXdzEXAMPLE+/="), "us-east-1", 43_200),
        (Some("IQoJb3JpZ2luX2VjEXAMPLE"), "eu-central-1", 3_600),
        (None, "us-west-2", 900),
    ];
    for (session, region, lifetime) in cases {
        let ours = request_signing::bedrock_short_term_key(
            &credentials(session),
            region,
            at(),
            Duration::from_secs(lifetime),
        )
        .expect("a key");
        let mut input = json!({
            "access_key": "AKIDEXAMPLE",
            "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "region": region,
            "expires": lifetime,
            "time": TIME_TEXT,
        });
        if let Some(token) = session {
            input["session_token"] = json!(token);
        }
        let official = aws_reference("bedrock-token", &input);
        assert_eq!(
            ours.key,
            official["token"].as_str().expect("token"),
            "{region}, {lifetime} s, session token: {}",
            session.is_some()
        );
        assert_eq!(ours.expires, at() + Duration::from_secs(lifetime));
    }
}

#[test]
fn the_otlp_export_signature_is_botocores() {
    let body = b"\x0a\x05spans".to_vec();
    for (session, region) in [
        (Some("FwoGZXIvYXdzEXAMPLE"), "us-east-1"),
        (None, "eu-west-1"),
    ] {
        let url = format!("https://xray.{region}.amazonaws.com/v1/traces");
        // What opentelemetry-otlp hands the project's HTTP client: method, URL, content type,
        // the protobuf body.
        let mut request = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .expect("request");
        request_signing::sign_request(&credentials(session), region, "xray", at(), &mut request)
            .expect("signed");
        let mut input = json!({
            "access_key": "AKIDEXAMPLE",
            "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "region": region,
            "service": "xray",
            "time": TIME_TEXT,
            "method": "POST",
            "url": url,
            "headers": { "content-type": "application/x-protobuf" },
            "body": String::from_utf8_lossy(&body),
        });
        if let Some(token) = session {
            input["session_token"] = json!(token);
        }
        let official = aws_reference("sigv4-headers", &input);
        let header = |name: &str| {
            official["headers"]
                .as_object()
                .and_then(|h| {
                    h.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.as_str().unwrap_or_default().to_owned())
                })
                .unwrap_or_default()
        };
        let ours = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(ours("authorization"), header("Authorization"), "{region}");
        assert_eq!(ours("x-amz-date"), header("X-Amz-Date"), "{region}");
        assert_eq!(
            ours("x-amz-security-token"),
            header("X-Amz-Security-Token"),
            "{region}"
        );
    }
}

/// InvokeAgentRuntime as request-proxy signs it (the runtimes are on IAM inbound auth): the
/// percent-encoded runtime ARN in the path (SigV4 encodes it once more in the canonical
/// request), the caller's ID token in the allow-listed custom header, the session id, Accept and
/// Content-Type, all signed: the same Authorization as botocore's `SigV4Auth` gives.
#[test]
fn the_invoke_agent_runtime_signature_is_botocores() {
    use contracts::headers::{RUNTIME_ID_TOKEN, RUNTIME_SESSION_ID};
    use request_proxy::runtime::{ACCEPT, SIGNING_SERVICE, invocation_url};
    let region = "us-east-1";
    let url = invocation_url(
        &format!("https://bedrock-agentcore.{region}.amazonaws.com"),
        "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/tenantry_basic-AbC123",
    );
    let body = br#"{"prompt":"What are our opening hours?"}"#;
    let host = request_signing::host_of(&url).expect("a host");
    let headers = [
        (
            RUNTIME_ID_TOKEN,
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln",
        ),
        (
            RUNTIME_SESSION_ID,
            "tnt-69540a8000000000000000000000000000-0123456789abcdef",
        ),
        ("accept", ACCEPT),
        ("content-type", "application/json"),
    ];
    let mut signed: Vec<(&str, &str)> = vec![("host", host.as_str())];
    signed.extend(headers);
    for session in [Some("FwoGZXIvYXdzEXAMPLE"), None] {
        let ours = request_signing::signature_headers(
            &credentials(session),
            region,
            SIGNING_SERVICE,
            at(),
            &request_signing::UnsignedRequest {
                method: "POST",
                uri: &url,
                headers: &signed,
                body,
            },
        )
        .expect("signed");
        let mut input = json!({
            "access_key": "AKIDEXAMPLE",
            "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "region": region,
            "service": SIGNING_SERVICE,
            "time": TIME_TEXT,
            "method": "POST",
            "url": url,
            "headers": headers.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "body": String::from_utf8_lossy(body),
        });
        if let Some(token) = session {
            input["session_token"] = json!(token);
        }
        let official = aws_reference("sigv4-headers", &input);
        let theirs = |name: &str| {
            official["headers"]
                .as_object()
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let ours = |name: &str| {
            ours.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            ours("authorization"),
            theirs("Authorization"),
            "session token: {}",
            session.is_some()
        );
        assert_eq!(ours("x-amz-date"), theirs("X-Amz-Date"));
        assert_eq!(ours("x-amz-security-token"), theirs("X-Amz-Security-Token"));
    }
}
