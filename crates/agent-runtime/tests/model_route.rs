//! Bedrock's OpenAI-compatible endpoint serves a model under `/v1` or under `/openai/v1`, and
//! which one is not settled offline (docs/deploying.md, open checks). The agent works with
//! either answer: a refused route is retried once under the other prefix, which is then kept.

use std::time::Duration;

use agent_runtime::config::{ModelAuth, ModelConfig};
use agent_runtime::model::{ChatClient, Message, Role};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn reply() -> serde_json::Value {
    serde_json::json!({
        "choices": [{ "message": { "role": "assistant", "content": "ok" }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2 }
    })
}

fn client(base: String) -> ChatClient {
    ChatClient::new(
        reqwest::Client::new(),
        ModelConfig {
            base_url: base,
            auth: ModelAuth::None,
            project: None,
            model_id: "m".into(),
            attempt_timeout: Duration::from_secs(5),
        },
        None,
    )
}

async fn ask(c: &ChatClient) -> Result<String, String> {
    c.complete(
        &[Message::text(Role::User, "hi")],
        &[],
        16,
        Instant::now() + Duration::from_secs(10),
    )
    .await
    .map(|c| c.text.unwrap_or_default())
    .map_err(|e| e.code().as_str().to_owned())
}

/// `/openai/v1` answers, and is called `times` times.
async fn answers_on_the_other_prefix(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/openai/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply()))
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_refused_route_is_tried_once_under_the_other_prefix_and_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_string("The model isn't supported on this route: use /openai/v1"),
        )
        .expect(1)
        .mount(&server)
        .await;
    answers_on_the_other_prefix(&server, 2).await;
    let c = client(format!("{}/v1", server.uri()));
    assert_eq!(ask(&c).await, Ok("ok".into()));
    // The second question goes straight to the route that answered.
    assert_eq!(ask(&c).await, Ok("ok".into()));
}

#[tokio::test]
async fn a_refusal_of_the_request_itself_is_not_retried_elsewhere() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(400).set_body_string("max_tokens is too large"))
        .expect(1)
        .mount(&server)
        .await;
    answers_on_the_other_prefix(&server, 0).await;
    assert_eq!(
        ask(&client(format!("{}/v1", server.uri()))).await,
        Err("model_refused".into())
    );
}
