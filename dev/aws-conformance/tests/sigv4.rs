//! Every signature the project builds by hand, byte for byte against AWS's own code for the
//! same credentials, Region, lifetime and time:
//!
//! - the short-term Bedrock API key (`request_signing::bedrock_short_term_key`) against AWS's
//!   `aws-bedrock-token-generator` (PyPI), which presigns a POST;
//! - the SigV4 headers of the OTLP span export to X-Ray (`request_signing::sign_request`,
//!   what `telemetry` calls for every export) against botocore's `SigV4Auth`.

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
