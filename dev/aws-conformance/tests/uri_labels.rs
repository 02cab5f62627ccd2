//! URLs the project builds by hand for an AWS API, against the path botocore's REST
//! serializer builds for the same operation and parameters.

use aws_conformance::aws_reference;
use serde_json::json;

/// request-proxy calls a JWT-authorized runtime over plain HTTPS (the SDK's InvokeAgentRuntime
/// signs with SigV4): its path must be the one the SDKs build, with the ARN as one label.
#[test]
fn the_runtime_invocation_path_is_the_sdks() {
    for arn in [
        "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/tenantry_basic-AbC123dEf4",
        "arn:aws:bedrock-agentcore:eu-central-1:123456789012:runtime/a.b~c-D_e-0123456789",
        "arn:aws-us-gov:bedrock-agentcore:us-gov-west-1:123456789012:runtime/x-0123456789",
    ] {
        let ours = request_proxy::runtime::invocation_url("https://h", arn);
        let ours_path = ours
            .strip_prefix("https://h")
            .and_then(|p| p.split('?').next())
            .expect("path");
        let official = aws_reference(
            "uri-label",
            &json!({
                "service": "bedrock-agentcore",
                "operation": "InvokeAgentRuntime",
                "params": { "agentRuntimeArn": arn, "payload": "{}", "qualifier": "DEFAULT" }
            }),
        );
        assert_eq!(ours_path, official["url_path"], "{arn}");
    }
}
