//! Upstream failures end in a typed outcome, never a panic or a hang.

mod common;

use std::time::Duration;

use common::{FakeTarget, Upstreams, agent, answered, ask, closed_addr, gateway, invoke_as};
use serde_json::json;
use testkit::test_issuer;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn answer() -> serde_json::Value {
    json!({"choices": [{"message": {"role": "assistant", "content": "fine"},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 5, "completion_tokens": 1}})
}

async fn model_answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

async fn stack_with_model(
    model: &MockServer,
) -> (common::Stack, emulators::gateway::GatewayEmulation) {
    let (stack, gw, _target) = stack_and_target(model).await;
    (stack, gw)
}

/// [`stack_with_model`], and the tool target behind its Gateway.
async fn stack_and_target(
    model: &MockServer,
) -> (
    common::Stack,
    emulators::gateway::GatewayEmulation,
    FakeTarget,
) {
    let jwks = test_issuer::jwks_server().await;
    let target = FakeTarget::with_hour(10);
    let gw = gateway("basic", &target, &jwks).await;
    let stack = agent(
        "basic",
        jwks,
        Upstreams::new(format!("{}/v1", model.uri()), gw.url()),
        &[],
    )
    .await;
    (stack, gw, target)
}

#[tokio::test]
async fn model_failures_are_retried_then_typed() {
    let cases = [
        (ResponseTemplate::new(429), 429, "model_throttled"),
        (ResponseTemplate::new(500), 502, "model_unavailable"),
        (
            ResponseTemplate::new(200).set_body_string("not json"),
            502,
            "model_bad_response",
        ),
        (ResponseTemplate::new(400), 502, "model_refused"),
        (
            ResponseTemplate::new(200)
                .set_body_json(answer())
                .set_delay(Duration::from_secs(3)),
            504,
            "model_timeout",
        ),
    ];
    for (template, status, code) in cases {
        let model = model_answering(template).await;
        let (stack, _gw) = stack_with_model(&model).await;
        let reply = invoke_as(&stack, "basic", "clinic-a", "hi", false).await;
        assert_eq!(reply.status, status, "{code}: {}", reply.body);
        assert_eq!(reply.json()["error"]["code"], code);
        let attempts = model.received_requests().await.unwrap().len();
        if matches!(code, "model_throttled" | "model_unavailable") {
            assert!(attempts > 1, "{code} was not retried");
            // At most 4 attempts (the AWS SDKs' standard retry mode): a
            // dead model is reported at once, not after the turn's deadline.
            assert!(attempts <= 4, "{code}: {attempts} attempts");
        } else if code != "model_timeout" {
            assert_eq!(attempts, 1, "{code} must not be retried");
        }
        // Streaming: the same failure as a closing error event.
        let reply = invoke_as(&stack, "basic", "clinic-a", "hi", true).await;
        let events = reply.events();
        let last = events.last().unwrap();
        assert_eq!(last["type"], "error");
        assert_eq!(last["error"], code);
    }
}

#[tokio::test]
async fn a_passing_model_outage_is_absorbed() {
    let model = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&model)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer()))
        .mount(&model)
        .await;
    let (stack, _gw) = stack_with_model(&model).await;
    let reply = answered(&stack, "basic", "clinic-a", "hi").await;
    assert_eq!(reply.json()["answer"], "fine");
}

#[tokio::test]
async fn a_gateway_outage_still_answers_without_tools() {
    let jwks = test_issuer::jwks_server().await;
    let model = emulators::model::ModelStandin::start(0).await.unwrap();
    // A port nothing listens on.
    let closed = closed_addr();
    let stack = agent(
        "basic",
        jwks,
        Upstreams::new(model.base_url(), format!("http://{closed}/mcp")),
        &[],
    )
    .await;
    let body = ask(&stack, "basic", "clinic-a", "Show patient p-001").await;
    assert_eq!(body["tools"], "skipped");
    assert!(model.requests()[0].tools.is_empty());
    assert!(
        body["answer"]
            .as_str()
            .unwrap()
            .contains("no tools were offered")
    );
}

#[tokio::test]
async fn rounds_are_capped() {
    // A model that asks for a tool forever.
    let model = model_answering(ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "clinic_config", "arguments": "{}"}}
        ]}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3}
    })))
    .await;
    let (stack, _gw) = stack_with_model(&model).await;
    let body = ask(&stack, "basic", "clinic-a", "hi").await;
    assert_eq!(body["stop_reason"], "max_rounds");
    assert_eq!(body["rounds"], 6);
    assert_eq!(model.received_requests().await.unwrap().len(), 6);
    assert_eq!(body["usage"]["input_tokens"], 60);
}

/// A slow tool cannot hold the invocation (and its session) past the one deadline (4 s in
/// these tests), and the error names what was waiting, not the model.
#[tokio::test]
async fn a_slow_tool_ends_at_the_deadline_and_is_named() {
    let target = FakeTarget::with_hour(10);
    *target.delay.lock().unwrap() = Duration::from_secs(30);
    let (stack, _model, _gw) = common::standard("basic", &target).await;
    let began = std::time::Instant::now();
    let reply = invoke_as(
        &stack,
        "basic",
        "clinic-a",
        "What are our opening hours?",
        false,
    )
    .await;
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "the turn waited for the tool: {:?}",
        began.elapsed()
    );
    assert_eq!(reply.status, 504, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"]["code"], "deadline_exceeded", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a tool call"),
        "{body}"
    );
}

/// A tool name the model made up (here carrying markup and a newline) is checked against the
/// offered tools before anything shows it: the stream and the reply name it `unknown`, the
/// Gateway is not asked, and the model is told the tool is not available.
#[tokio::test]
async fn a_tool_the_model_was_not_offered_is_never_named_or_called() {
    let invented = "drop_tables\n<script>alert(1)</script>";
    let call = json!({"choices": [{"message": {"role": "assistant", "content": null,
        "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": invented, "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1}});
    for stream in [false, true] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(call.clone()))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer()))
            .mount(&server)
            .await;
        let (stack, _gw, target) = stack_and_target(&server).await;
        let reply = invoke_as(&stack, "basic", "clinic-a", "hi", stream).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(!reply.body.contains("drop_tables"), "{}", reply.body);
        assert!(!reply.body.contains("<script>"), "{}", reply.body);
        assert!(reply.body.contains("\"unknown\""), "{}", reply.body);
        assert!(target.calls().is_empty(), "the target was called");
        let fed_back = server.received_requests().await.unwrap();
        let second: serde_json::Value = serde_json::from_slice(&fed_back[1].body).unwrap();
        assert!(second.to_string().contains("unknown_tool"), "{second}");
    }
}

/// A model reply larger than any completion the agent asked for is refused as a bad response
/// (it is read up to the cap, never whole), not passed on.
#[tokio::test]
async fn an_oversized_model_reply_is_refused() {
    let huge = "x".repeat(agent_runtime::model::MAX_REPLY_BYTES + 1);
    let body = json!({"choices": [{"message": {"role": "assistant", "content": huge},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 5, "completion_tokens": 1}});
    let model = model_answering(ResponseTemplate::new(200).set_body_json(body)).await;
    let (stack, _gw) = stack_with_model(&model).await;
    let reply = invoke_as(&stack, "basic", "clinic-a", "hi", false).await;
    assert_eq!(
        reply.status,
        502,
        "{}",
        &reply.body[..reply.body.len().min(300)]
    );
    assert_eq!(reply.json()["error"]["code"], "model_bad_response");
}
