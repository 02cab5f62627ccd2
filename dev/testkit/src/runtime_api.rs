//! A local Lambda Runtime API for tests that drive a real function binary or runtime loop: a
//! mock on 127.0.0.1 that serves a fixed sequence of invocations, then answers 410 (so the loop
//! under test ends), and accepts the function's replies.

use serde_json::Value;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// One invocation's headers as the Runtime API sends them; the caller adds the body (and a
/// client context or trace id header where the test needs one).
pub fn invocation(request_id: &str, function_arn: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("Lambda-Runtime-Aws-Request-Id", request_id)
        .insert_header("Lambda-Runtime-Deadline-Ms", "4102444800000")
        .insert_header("Lambda-Runtime-Invoked-Function-Arn", function_arn)
}

/// A Runtime API that serves `events` in order, then answers 410.
pub async fn serve(events: Vec<ResponseTemplate>) -> MockServer {
    let api = MockServer::builder().start().await;
    for e in events {
        Mock::given(method("GET"))
            .and(path(NEXT))
            .respond_with(e)
            .up_to_n_times(1)
            .mount(&api)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(NEXT))
        .respond_with(ResponseTemplate::new(410))
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/2018-06-01/runtime/invocation/[^/]+/(response|error)$",
        ))
        .respond_with(ResponseTemplate::new(202))
        .mount(&api)
        .await;
    api
}

/// The replies the function posted: (path, JSON body).
pub async fn replies(api: &MockServer) -> Vec<(String, Value)> {
    api.received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| {
            (
                r.url.path().to_owned(),
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}
