//! The tool target against AWS's documented Gateway Lambda target input: the context object's
//! six string fields (`events/aws-samples/agentcore-gateway-lambda-client-context-custom.json`),
//! the project's client contexts held to them, and the client context's size against Lambda's
//! limit with a Cognito ID token of the largest size this deployment makes.

use base64::Engine as _;
use serde_json::{Value, json};
use testkit::aws_samples;
use tool_target::error::ToolError;
use tool_target::gateway::{GatewayCall, PROPAGATED_HEADERS_KEY};

const SAMPLE: &str = "agentcore-gateway-lambda-client-context-custom.json";
/// The Invoke API's limit on a client context (base64), and the Gateway's on a header value.
const LAMBDA_CLIENT_CONTEXT_MAX: usize = 3583;
const GATEWAY_HEADER_VALUE_MAX: usize = 4096;

fn context(custom: Value) -> String {
    json!({ "custom": custom }).to_string()
}

#[test]
fn the_documented_context_parses_and_carries_no_identity_without_headers() {
    let mut custom = aws_samples::json(SAMPLE);
    // The sample's placeholder ("string") is no `<target>___<tool>`: a typed refusal.
    assert!(matches!(
        GatewayCall::from_client_context(Some(&context(custom.clone()))),
        Err(ToolError::BadToolName)
    ));
    custom["bedrockAgentCoreToolName"] = "tenantry-basic-tools___clinic_config".into();
    let call = GatewayCall::from_client_context(Some(&context(custom))).unwrap();
    assert_eq!(
        (call.target.as_str(), call.tool.as_str()),
        ("tenantry-basic-tools", "clinic_config")
    );
    // No propagated headers: no identity, so every tool fails closed (handler tests).
    assert!(call.headers.is_empty());
    assert_eq!(call.header("x-id-token"), None);
}

#[test]
fn the_projects_client_contexts_carry_every_documented_field_as_a_string() {
    let sample = aws_samples::json(SAMPLE);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/tool-target");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".client-context.json") {
            continue;
        }
        let ours: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut custom = ours["custom"].clone();
        // Documented by AWS's AgentCore samples, not by the guide's context object.
        assert!(
            custom[PROPAGATED_HEADERS_KEY].is_object(),
            "{}",
            path.display()
        );
        custom
            .as_object_mut()
            .unwrap()
            .remove(PROPAGATED_HEADERS_KEY);
        let differences = aws_samples::shape_differences(&custom, &sample, &[], &[]);
        assert!(
            differences.is_empty(),
            "{}: {differences:#?}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 6, "client contexts found: {seen}");
}

/// The propagated headers travel in the client context, which Lambda caps at 3,583 bytes of
/// base64. With the longest values this deployment produces (a 48-character clinic id, a long
/// address, every claim Cognito puts in an ID token) there is room to spare.
#[test]
fn the_largest_client_context_fits_lambdas_limit() {
    let clinic = format!("c{}", "-a1".repeat(15)) + "z1";
    assert!(clinic.len() <= 48);
    let now = testkit::test_issuer::now();
    let token = testkit::test_issuer::sign(&json!({
        "sub": "6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11",
        "email_verified": true,
        "iss": "https://cognito-idp.ap-southeast-2.amazonaws.com/ap-southeast-2_AbCdEfGhI",
        "cognito:username": "6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11",
        "origin_jti": "5b1e6f5e-8a8f-4e0b-9c1d-2f4d3c2b1a00",
        "aud": "1example23456789abcdefghijk",
        "event_id": "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
        "token_use": "id",
        "auth_time": now,
        "exp": now + 900,
        "iat": now,
        "jti": "9f8e7d6c-5b4a-3c2d-1e0f-a9b8c7d6e5f4",
        "email": format!("{}@{clinic}.example.org", "a.very.long.clinician.name"),
        "name": "Dr. Alexandra Konstantinopoulou-Featherstonehaugh",
        "custom:tier": "premium",
        "custom:clinic_id": clinic,
        "custom:role": "clinician",
    }));
    assert!(
        token.len() < GATEWAY_HEADER_VALUE_MAX,
        "{} bytes",
        token.len()
    );
    let custom = json!({
        "bedrockAgentCoreMessageVersion": "1.0",
        "bedrockAgentCoreAwsRequestId": "1f2e3d4c-5b6a-4789-8a7b-6c5d4e3f2a1b",
        "bedrockAgentCoreMcpMessageId": "1234567890",
        "bedrockAgentCoreGatewayId": "tenantry-premium-abcdefghij",
        "bedrockAgentCoreTargetId": "ABCDEFGHIJ",
        "bedrockAgentCoreToolName": "tenantry-premium-tools___retrieve_clinic_documents",
        PROPAGATED_HEADERS_KEY: {
            "x-id-token": token,
            "x-tier": "premium",
            "x-clinic-id": clinic,
            "x-s3-prefix": format!("premium-tier/{clinic}/"),
        },
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(context(custom).as_bytes());
    assert!(
        encoded.len() <= LAMBDA_CLIENT_CONTEXT_MAX,
        "{} bytes of base64 (limit {LAMBDA_CLIENT_CONTEXT_MAX})",
        encoded.len()
    );
    println!(
        "largest client context: {} of {LAMBDA_CLIENT_CONTEXT_MAX} bytes of base64 (ID token {} bytes)",
        encoded.len(),
        token.len()
    );
}
