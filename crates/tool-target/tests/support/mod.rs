//! Gateway-shaped invocations for the local Runtime API of `testkit::runtime_api`.
#![allow(dead_code, unused_imports)] // each test crate uses a different subset

use serde_json::Value;
use wiremock::ResponseTemplate;

pub use testkit::runtime_api::{replies, serve as runtime_api};

pub mod world;

/// One invocation of the tool target, with the Gateway's client context if given.
pub fn event(id: &str, client_context: Option<&str>, payload: Value) -> ResponseTemplate {
    let t = testkit::runtime_api::invocation(
        id,
        "arn:aws:lambda:us-east-1:123456789012:function:tool-target",
    )
    .set_body_json(payload);
    match client_context {
        Some(cc) => t.insert_header("Lambda-Runtime-Client-Context", cc),
        None => t,
    }
}
