//! The runtime loop against a local Runtime API (a mock on 127.0.0.1 that serves a fixed
//! sequence of invocations, then fails): the AgentCore Gateway client context with its nested
//! propagated headers reaches the handler, and malformed contexts and a panicking handler do
//! not stop the loop from serving the next invocation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod support;

use serde_json::{Value, json};
use support::{event, replies, runtime_api};
use tool_target::{GatewayCall, Invocation, RuntimeLoop};

fn gateway_context() -> String {
    json!({
        "custom": {
            "bedrockAgentCoreToolName": "tenantry-basic-tools___clinic_config",
            "bedrockAgentCoreGatewayId": "gw-123",
            "bedrockAgentCoreTargetId": "tgt-1",
            "bedrockAgentCoreMessageVersion": "1.0",
            "bedrockAgentCoreAwsRequestId": "req-1",
            "bedrockAgentCoreMcpMessageId": "7",
            "bedrockAgentCorePropagatedHeaders": {
                "X-Tier": "basic",
                "X-Clinic-ID": "clinic-a",
                "X-S3-Prefix": "basic-tier/clinic-a/"
            }
        }
    })
    .to_string()
}

/// A test handler: what the tool target's handler does first (read the Gateway call).
async fn handler(inv: Invocation) -> Value {
    let payload: Value = serde_json::from_slice(&inv.payload).unwrap_or(Value::Null);
    if payload["panic"] == true {
        panic!("handler bug");
    }
    match GatewayCall::from_client_context(inv.client_context.as_deref()) {
        Ok(call) => json!({"tool": call.tool, "clinic": call.header("x-clinic-id")}),
        Err(e) => e.to_reply(),
    }
}

#[tokio::test]
async fn the_loop_serves_gateway_calls_and_survives_bad_ones() {
    let ctx = gateway_context();
    let api = runtime_api(vec![
        event("1-gateway", Some(&ctx), json!({})),
        event("2-not-json", Some("{not json"), json!({})),
        event("3-panics", Some(&ctx), json!({"panic": true})),
        event("4-no-context", None, json!({"patient_id": "p-1"})),
        event("5-gateway-again", Some(&ctx), json!({})),
    ])
    .await;

    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let runtime = RuntimeLoop::with_endpoint(api.uri().parse().unwrap());
    let result = runtime
        .run(move |inv| {
            counted.fetch_add(1, Ordering::SeqCst);
            handler(inv)
        })
        .await;
    assert!(result.unwrap_err().to_string().contains("410"));
    assert_eq!(calls.load(Ordering::SeqCst), 5);

    let posts = replies(&api).await;
    let by_id = |id: &str| {
        posts
            .iter()
            .find(|(p, _)| p.contains(id))
            .unwrap_or_else(|| panic!("no reply for {id}"))
    };
    let (p, body) = by_id("1-gateway");
    assert!(p.ends_with("/response"));
    assert_eq!(
        body,
        &json!({"tool": "clinic_config", "clinic": "clinic-a"})
    );
    let (p, body) = by_id("2-not-json");
    assert!(p.ends_with("/response"));
    assert_eq!(body["error"]["code"], "bad_client_context");
    let (p, body) = by_id("3-panics");
    assert!(p.ends_with("/error"));
    assert_eq!(body["errorType"], "Internal.handler_failed");
    assert!(
        !body.to_string().contains("handler bug"),
        "no panic text reaches the caller"
    );
    let (_, body) = by_id("4-no-context");
    assert_eq!(body["error"]["code"], "missing_tool_name");
    let (p, body) = by_id("5-gateway-again");
    assert!(p.ends_with("/response"));
    assert_eq!(body["tool"], "clinic_config");
}

/// Why `runtime.rs` exists: lambda_runtime 1.5.0 cannot build an invocation context from the
/// Gateway's client context. If this starts passing, upstream fixed it and the hand-written
/// loop can go.
#[test]
fn lambda_runtime_rejects_the_gateway_client_context() {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "lambda-runtime-deadline-ms",
        "4102444800000".parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-client-context",
        gateway_context().parse().unwrap(),
    );
    let config = std::sync::Arc::new(lambda_runtime::Config::default());
    assert!(lambda_runtime::Context::new("id", config, &headers).is_err());
}
