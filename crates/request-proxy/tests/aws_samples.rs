//! The proxy against AWS's own proxy-integration samples: the documented REST event (payload
//! 1.0, every field API Gateway sends) behind the Lambda authorizer, as the real function's
//! router receives it, and the project's fixtures held to that event's shape.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::aws_samples;
use wiremock::ResponseTemplate;

mod support;

use support::*;

/// AWS's documented event for `POST /invoke`, with the authorizer context the way API Gateway
/// passes a Lambda authorizer's (its keys beside `principalId`, as in AWS's Go sample).
fn documented_invoke() -> Value {
    let mut event = aws_samples::json("apigw-rest-proxy-request.json");
    let with_authorizer = aws_samples::json("apigw-rest-proxy-request-lambda-authorizer.json");
    assert!(
        with_authorizer["requestContext"]["authorizer"]["principalId"].is_string(),
        "AWS's sample of a Lambda authorizer's context"
    );
    event["resource"] = "/invoke".into();
    event["path"] = "/invoke".into();
    event["httpMethod"] = "POST".into();
    let bearer = format!("Bearer {TOKEN}");
    event["headers"] = json!({ "Authorization": bearer, "Content-Type": "application/json" });
    event["multiValueHeaders"] =
        json!({ "Authorization": [bearer], "Content-Type": ["application/json"] });
    event["requestContext"]["resourcePath"] = "/invoke".into();
    event["requestContext"]["httpMethod"] = "POST".into();
    event["requestContext"]["authorizer"] = json!({
        "principalId": "6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11",
        "sub": "6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11",
        "custom:tier": "basic",
        "custom:clinic_id": "clinic-a",
        "custom:role": "clinician",
        "integrationLatency": 12
    });
    event["body"] = json!({ "prompt": "Summarise the clinic's opening hours." })
        .to_string()
        .into();
    event["isBase64Encoded"] = false.into();
    event
}

#[tokio::test]
async fn the_documented_proxy_event_reaches_the_tiers_runtime() {
    let server = runtime(
        ResponseTemplate::new(200).set_body_raw(r#"{"answer":"8-18"}"#, "application/json"),
    )
    .await;
    let (status, _, body) = call(
        deps(&server.uri(), Duration::from_secs(5)),
        &documented_invoke().to_string(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let sent = only_request(&server).await;
    assert!(sent.url.path().contains("tenantry_basic"), "{}", sent.url);
}

/// The fixtures carry no field AWS's event does not have, and every top-level one it has.
#[test]
fn the_projects_events_have_the_documented_fields() {
    let sample = aws_samples::json("apigw-rest-proxy-request.json");
    let top: Vec<&String> = sample.as_object().unwrap().keys().collect();
    for (name, text) in [
        ("invoke-clinic-a.json", fixture!("invoke-clinic-a.json")),
        ("usage-clinic-a.json", fixture!("usage-clinic-a.json")),
        (
            "invoke-clinic-a-forged-headers.json",
            fixture!("invoke-clinic-a-forged-headers.json"),
        ),
    ] {
        let ours: Value = serde_json::from_str(text).unwrap();
        let missing: Vec<&&String> = top
            .iter()
            .filter(|k| ours.get(k.as_str()).is_none())
            .collect();
        assert!(missing.is_empty(), "{name} lacks {missing:?}");
        // Ours may leave out fields; it may not invent any, nor type one differently (the
        // authorizer's context is the Lambda authorizer's, not the sample's Cognito claims).
        let sample_keys: Vec<String> = sample["requestContext"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| format!("requestContext.{k}"))
            .collect();
        let optional: Vec<&str> = sample_keys.iter().map(String::as_str).collect();
        let differences = aws_samples::shape_differences(
            &ours,
            &sample,
            &optional,
            &[
                "headers",
                "multiValueHeaders",
                "queryStringParameters",
                "multiValueQueryStringParameters",
                "pathParameters",
                "stageVariables",
                "requestContext.authorizer",
                "requestContext.identity",
            ],
        );
        assert!(differences.is_empty(), "{name}: {differences:#?}");
    }
}

/// What request-proxy's runtime writes before a streamed body (lambda_runtime's prelude for a
/// 200 with the proxy's headers) is the documented format, which the API Gateway emulation
/// enforces on every streamed reply of the e2e tests.
#[test]
fn the_streaming_prelude_rules_are_the_documented_ones() {
    let format = aws_samples::text("apigw-rest-streaming-response-format.txt");
    for key in ["headers", "multiValueHeaders", "cookies", "statusCode"] {
        assert!(format.contains(&format!("\"{key}\"")), "{key}");
    }
    let ours = json!({
        "statusCode": 200,
        "headers": { "content-type": "text/event-stream", "x-tenantry-session-id": "s" },
        "cookies": []
    });
    assert_eq!(emulators::apigateway::prelude_problem(&ours), None);
    for bad in [
        json!({ "statusCode": 200, "body": "x" }),
        json!({ "statusCode": 200, "headers": { "set-cookie": ["a", "b"] } }),
    ] {
        assert!(
            emulators::apigateway::prelude_problem(&bad).is_some(),
            "{bad}"
        );
    }
}
