//! The runtime loop against a local Runtime API (a mock on 127.0.0.1 that serves a fixed
//! sequence of invocations, then fails): the AgentCore Gateway client context with its nested
//! propagated headers reaches the handler, malformed contexts do not stop the loop from
//! serving the next invocation, a panic ends it, slow calls are answered before the deadline,
//! and every call logs inside a span with its ids.

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

/// Runs the loop with the test handler until it ends: why it ended, and how many invocations
/// reached the handler.
async fn run_counted(api: &wiremock::MockServer) -> (String, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let result = RuntimeLoop::with_endpoint(api.uri().parse().unwrap())
        .run(move |inv| {
            counted.fetch_add(1, Ordering::SeqCst);
            handler(inv)
        })
        .await;
    let ended = result.err().map(|e| e.to_string()).unwrap_or_default();
    (ended, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn the_loop_serves_gateway_calls_and_survives_bad_input() {
    let ctx = gateway_context();
    let api = runtime_api(vec![
        event("1-gateway", Some(&ctx), json!({})),
        event("2-not-json", Some("{not json"), json!({})),
        event("3-no-context", None, json!({"patient_id": "p-1"})),
        event("4-gateway-again", Some(&ctx), json!({})),
    ])
    .await;

    let (result, calls) = run_counted(&api).await;
    assert!(result.contains("410"));
    assert_eq!(calls, 4);

    let posts = replies(&api).await;
    let (p, body) = by_id(&posts, "1-gateway");
    assert!(p.ends_with("/response"));
    assert_eq!(
        body,
        &json!({"tool": "clinic_config", "clinic": "clinic-a"})
    );
    let (p, body) = by_id(&posts, "2-not-json");
    assert!(p.ends_with("/response"));
    assert_eq!(body["error"]["code"], "bad_client_context");
    let (_, body) = by_id(&posts, "3-no-context");
    assert_eq!(body["error"]["code"], "missing_tool_name");
    let (p, body) = by_id(&posts, "4-gateway-again");
    assert!(p.ends_with("/response"));
    assert_eq!(body["tool"], "clinic_config");
}

fn by_id<'a>(posts: &'a [(String, Value)], id: &str) -> &'a (String, Value) {
    posts
        .iter()
        .find(|(p, _)| p.contains(id))
        .unwrap_or_else(|| panic!("no reply for {id}"))
}

/// A panic fails its invocation with a function error that carries no panic text, and ends
/// the loop: the next invocation is left to a fresh process, as in the shipped profile (which
/// aborts on panic).
#[tokio::test]
async fn a_panic_fails_the_call_and_ends_the_process() {
    let ctx = gateway_context();
    let api = runtime_api(vec![
        event("1-gateway", Some(&ctx), json!({})),
        event("2-panics", Some(&ctx), json!({"panic": true})),
        event("3-never-served-here", Some(&ctx), json!({})),
    ])
    .await;
    let (result, calls) = run_counted(&api).await;
    assert!(result.contains("panicked"));
    assert_eq!(calls, 2);

    let posts = replies(&api).await;
    let (p, body) = by_id(&posts, "2-panics");
    assert!(p.ends_with("/error"));
    assert_eq!(body["errorType"], "Internal.handler_failed");
    assert!(
        !body.to_string().contains("handler bug"),
        "no panic text reaches the caller"
    );
    assert!(!posts.iter().any(|(p, _)| p.contains("3-never-served-here")));
}

/// The claim above holds for what ships: the release profile aborts on panic.
#[test]
fn the_shipped_profile_aborts_on_panic() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
            .expect("workspace manifest");
    let release: Vec<&str> = manifest
        .lines()
        .skip_while(|l| l.trim() != "[profile.release]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(str::trim)
        .collect();
    assert!(
        release.contains(&r#"panic = "abort""#),
        "release profile: {release:?}"
    );
}

/// A handler still running half a second before the deadline gets a `deadline_exceeded` reply
/// in its place, the handler is cancelled, and the loop serves the next invocation.
#[tokio::test]
async fn a_slow_call_is_answered_before_the_deadline_and_cancelled() {
    let ctx = gateway_context();
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1_500;
    let api = runtime_api(vec![
        event("1-slow", Some(&ctx), json!({"sleep_s": 30}))
            .insert_header("Lambda-Runtime-Deadline-Ms", soon.to_string()),
        event("2-gateway", Some(&ctx), json!({})),
    ])
    .await;
    let finished = Arc::new(AtomicUsize::new(0));
    let done = finished.clone();
    let result = RuntimeLoop::with_endpoint(api.uri().parse().unwrap())
        .run(move |inv| {
            let done = done.clone();
            async move {
                let payload: Value = serde_json::from_slice(&inv.payload).unwrap_or(Value::Null);
                if let Some(s) = payload["sleep_s"].as_u64() {
                    tokio::time::sleep(std::time::Duration::from_secs(s)).await;
                    done.fetch_add(1, Ordering::SeqCst);
                }
                handler(inv).await
            }
        })
        .await;
    assert!(result.unwrap_err().to_string().contains("410"));
    let posts = replies(&api).await;
    let (p, body) = by_id(&posts, "1-slow");
    assert!(p.ends_with("/response"));
    assert_eq!(body["error"]["code"], "deadline_exceeded");
    assert_eq!(by_id(&posts, "2-gateway").1["tool"], "clinic_config");
    tokio::task::yield_now().await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "the slow handler was cancelled"
    );
}

/// Every log line of a call carries its request id and X-Ray trace id.
#[tokio::test]
async fn each_call_logs_inside_a_span_with_its_request_and_trace_ids() {
    let (logs, _guard) = testkit::logs::LogCapture::start(telemetry::logging::filter(Some("info")));
    let ctx = gateway_context();
    let api = runtime_api(vec![
        event("req-span-1", Some(&ctx), json!({})).insert_header(
            "Lambda-Runtime-Trace-Id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        ),
    ])
    .await;
    let _ = RuntimeLoop::with_endpoint(api.uri().parse().unwrap())
        .run(|inv| async move {
            tracing::info!("LINE-FROM-THE-HANDLER");
            handler(inv).await
        })
        .await;
    let text = logs.text();
    let line: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "LINE-FROM-THE-HANDLER")
        .unwrap_or_else(|| panic!("no handler line in {text}"));
    assert_eq!(line["span"]["name"], "tool_invocation");
    assert_eq!(line["span"]["request_id"], "req-span-1");
    assert_eq!(
        line["span"]["trace_id"],
        "1-5759e988-bd862e3fe1be46a994272793"
    );
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

/// Lambda sends the deadline as epoch milliseconds; cargo-lambda's emulator sends its timeout
/// (`600000`) there. That is no deadline, so nothing is cut short.
#[tokio::test]
async fn a_deadline_that_is_not_a_time_is_not_enforced() {
    let ctx = gateway_context();
    let api = runtime_api(vec![
        event("1-emulator", Some(&ctx), json!({}))
            .insert_header("Lambda-Runtime-Deadline-Ms", "600000"),
    ])
    .await;
    let _ = RuntimeLoop::with_endpoint(api.uri().parse().unwrap())
        .run(|inv| async move {
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            handler(inv).await
        })
        .await;
    let posts = replies(&api).await;
    assert_eq!(by_id(&posts, "1-emulator").1["tool"], "clinic_config");
}
