//! The authorizer against AWS's own TOKEN-authorizer sample and documented output format: the
//! event the template's TOKEN authorizer receives, and replies with only the documented keys
//! (`principalId`, `policyDocument`, `context` of strings, numbers and booleans,
//! `usageIdentifierKey`).

use std::time::Duration;

use serde_json::Value;
use tenant_authorizer::{AuthError, authorize};
use testkit::aws_samples;

mod support;

use support::*;

const OURS: &str = include_str!("../../../events/tenant-authorizer/token-event.json");

/// Every key of `reply` is one the documented output format has, and `context` holds only
/// scalar values; `usageIdentifierKey` may be null (no key) where AWS's Deny leaves it out.
fn documented(reply: &Value) -> Vec<String> {
    let format = aws_samples::json("apigw-authorizer-response-format.jsonc");
    let mut problems = Vec::new();
    for (key, value) in reply.as_object().into_iter().flatten() {
        if format.get(key).is_none() {
            problems.push(format!("{key} is not in the documented output"));
        }
        if key == "context" {
            for (k, v) in value.as_object().into_iter().flatten() {
                if !(v.is_string() || v.is_number() || v.is_boolean()) {
                    problems.push(format!("context.{k} is not a string, number or boolean"));
                }
            }
        }
    }
    for statement in reply["policyDocument"]["Statement"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for key in ["Action", "Effect", "Resource"] {
            if statement.get(key).is_none() {
                problems.push(format!("a statement has no {key}"));
            }
        }
    }
    problems
}

#[tokio::test]
async fn awss_token_event_gets_a_documented_allow_and_deny() {
    let w = world("samples", Duration::from_secs(60)).await;
    let mut event = aws_samples::json("apigw-token-authorizer-request.json");
    assert_eq!(event["type"], "TOKEN");
    // AWS's sample token ("allow") is no Bearer token: 401, as the template's expression would.
    assert!(matches!(
        authorize(&event, &w.deps).await,
        Err(AuthError::Unauthorized(_))
    ));
    event["authorizationToken"] = format!("Bearer {}", token("basic", "clinic-a")).into();
    let allow = serde_json::to_value(authorize(&event, &w.deps).await.unwrap()).unwrap();
    assert_eq!(allow["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(allow["usageIdentifierKey"], w.key_of("clinic-a"));
    // The sample's methodArn, its stage and every method and path of it.
    assert_eq!(
        allow["policyDocument"]["Statement"][0]["Resource"][0],
        "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/*/*"
    );
    assert!(documented(&allow).is_empty(), "{:#?}", documented(&allow));

    event["authorizationToken"] = format!("Bearer {}", token("basic", "clinic-c")).into();
    let deny = serde_json::to_value(authorize(&event, &w.deps).await.unwrap()).unwrap();
    let sample = aws_samples::json("apigw-authorizer-response-deny.json");
    assert_eq!(
        deny["policyDocument"]["Statement"][0]["Effect"],
        sample["policyDocument"]["Statement"][0]["Effect"]
    );
    assert!(deny["usageIdentifierKey"].is_null());
    assert!(documented(&deny).is_empty(), "{:#?}", documented(&deny));
}

#[test]
fn the_projects_token_event_is_awss_shape() {
    let ours: Value = serde_json::from_str(OURS).unwrap();
    let differences = aws_samples::shape_differences(
        &ours,
        &aws_samples::json("apigw-token-authorizer-request.json"),
        &[],
        &[],
    );
    assert!(differences.is_empty(), "{differences:#?}");
}
