//! A local Runtime API for tests: a mock on 127.0.0.1 that serves a fixed sequence of
//! invocations, then answers 410 (so the loop under test returns), and accepts replies.
#![allow(dead_code)] // each test crate uses a different subset

use serde_json::Value;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// One invocation as the Runtime API delivers it.
pub fn event(id: &str, client_context: Option<&str>, payload: Value) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(200)
        .insert_header("Lambda-Runtime-Aws-Request-Id", id)
        .insert_header("Lambda-Runtime-Deadline-Ms", "4102444800000")
        .insert_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:tool-target",
        )
        .set_body_json(payload);
    if let Some(cc) = client_context {
        t = t.insert_header("Lambda-Runtime-Client-Context", cc);
    }
    t
}

/// A Runtime API that serves `events` in order, then fails with 410.
pub async fn runtime_api(events: Vec<ResponseTemplate>) -> MockServer {
    let api = MockServer::builder().start().await;
    for t in events {
        Mock::given(method("GET"))
            .and(path(NEXT))
            .respond_with(t)
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
