//! A LOCAL STAND-IN for the AgentCore Runtime invocation endpoint (the real agent comes with
//! the agent-runtime work). It answers `POST /runtimes/{arn}/invocations` with JSON that says
//! it is a stand-in and reports what it received: the runtime ARN, the session id, whether a
//! Bearer token came with it, and the prompt's length (never the token or the prompt itself).

use percent_encoding::percent_decode_str;
use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

struct Echo;

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let segment = req.url.path().split('/').nth(2).unwrap_or_default();
        let arn = percent_decode_str(segment).decode_utf8_lossy().into_owned();
        let header = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let prompt_chars = serde_json::from_slice::<serde_json::Value>(&req.body)
            .ok()
            .and_then(|v| v["prompt"].as_str().map(|p| p.chars().count()))
            .unwrap_or(0);
        ResponseTemplate::new(200).set_body_json(json!({
            "stand_in": "local AgentCore Runtime stand-in (no model, no agent)",
            "runtime_arn": arn,
            "qualifier": req.url.query_pairs().find(|(k, _)| k == "qualifier").map(|(_, v)| v.into_owned()),
            "session_id": header("x-amzn-bedrock-agentcore-runtime-session-id"),
            "bearer_token_received": header("authorization").starts_with("Bearer "),
            "prompt_chars": prompt_chars,
        }))
    }
}

/// Starts the stand-in on 127.0.0.1 (a free port); it stops when the server is dropped.
pub async fn start() -> MockServer {
    let server = MockServer::builder().start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/runtimes/[^/]+/invocations$"))
        .respond_with(Echo)
        .mount(&server)
        .await;
    server
}
