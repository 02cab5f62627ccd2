//! Taking a turn (the user's turn limit and the clinic's first budget reservation, both
//! DynamoDB writes) runs beside the turn's first stage, not before it: one round trip of wait
//! before the model, not two. The reply still starts only once the turn is taken, and a turn
//! refused meanwhile never reaches the model, streamed or not.

mod common;

use std::time::Duration;

use common::{FakeTarget, Upstreams, caller, gateway, invoke};
use emulators::fault_proxy::{Fault, FaultProxy};
use emulators::model::ModelStandin;
use serde_json::json;
use testkit::test_issuer;

const WAIT: Duration = Duration::from_secs(10);

/// A basic-tier agent whose usage table is reached through `dynamodb` (a fault proxy).
async fn stack_through(
    dynamodb: &FaultProxy,
    extra: &[(&str, &str)],
) -> (
    common::Stack,
    ModelStandin,
    emulators::gateway::GatewayEmulation,
) {
    let jwks = test_issuer::jwks_server().await;
    let model = ModelStandin::start(0).await.unwrap();
    let target = FakeTarget::with_hour(10);
    let gw = gateway("basic", &target, &jwks).await;
    let stack = common::agent(
        "basic",
        jwks,
        Upstreams::new(model.base_url(), gw.url()).dynamodb(dynamodb.url()),
        extra,
    )
    .await;
    (stack, model, gw)
}

async fn usage_table(name: &str) -> (String, FaultProxy) {
    let endpoints = testkit::endpoints_or_panic();
    let table = testkit::dynamo::create_usage_table(&endpoints, name)
        .await
        .expect("the usage table on dynalite (scripts/standins.sh start)");
    let proxy = FaultProxy::start(endpoints.dynamodb_url.as_deref().unwrap())
        .await
        .unwrap();
    (table, proxy)
}

/// While the usage table has not answered, the turn's input check already reached the
/// guardrail; the model has not been called and the caller has no reply yet. Once the table
/// answers, the turn is answered.
#[tokio::test]
async fn the_turn_is_taken_beside_its_input_check_and_the_reply_waits_for_it() {
    let (table, dynamodb) = usage_table("taken-beside").await;
    let (stack, model, _gw) = stack_through(
        &dynamodb,
        &[
            ("TENANTRY_USAGE_TABLE", table.as_str()),
            ("TENANTRY_USER_TURNS_PER_MINUTE", "100"),
        ],
    )
    .await;
    let guardrail = stack.guardrail.as_ref().expect("the stack's own guardrail");
    dynamodb.set(Fault::Held).await.unwrap();
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let mut reply = Box::pin(invoke(
        &stack,
        Some(&token),
        Some(session.as_str()),
        json!({"prompt": "What are our opening hours?"}),
        true,
    ));
    // The input check is asked while the table holds the turn limit and the reservation.
    let checked = tokio::time::timeout(WAIT, async {
        loop {
            tokio::select! {
                r = &mut reply => panic!("answered while the usage table was held: {}", r.body),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            if !guardrail.calls().is_empty() {
                break;
            }
        }
    })
    .await;
    assert!(
        checked.is_ok(),
        "the input check waited for the usage table (the turn was taken before its first stage)"
    );
    assert!(
        model.requests().is_empty(),
        "the model was called before the turn was taken"
    );

    dynamodb.set(Fault::None).await.unwrap();
    let reply = tokio::time::timeout(WAIT, reply)
        .await
        .expect("answered once the usage table answered");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let events = reply.events();
    assert_eq!(events.last().unwrap()["type"], "final", "{}", reply.body);
    assert!(!model.requests().is_empty());
}

/// A turn the limit refuses, asked for as a stream: the refusal is the request's status (429
/// with `Retry-After`), not a stream that starts and ends in an error; the model is not called
/// although the turn's input check and recall ran beside the refusal.
#[tokio::test]
async fn a_turn_refused_beside_its_first_stage_is_a_429_and_never_reaches_the_model() {
    let (table, dynamodb) = usage_table("refused-beside").await;
    let (stack, model, _gw) = stack_through(
        &dynamodb,
        &[
            ("TENANTRY_USAGE_TABLE", table.as_str()),
            ("TENANTRY_USER_TURNS_PER_MINUTE", "1"),
        ],
    )
    .await;
    common::clear_of_a_minutes_end().await;
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let prompt = json!({"prompt": "What are our opening hours?"});
    let ok = invoke(
        &stack,
        Some(&token),
        Some(session.as_str()),
        prompt.clone(),
        true,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let guardrail = stack.guardrail.as_ref().expect("the stack's own guardrail");
    let (models, checks) = (model.requests().len(), guardrail.calls().len());

    let refused = invoke(&stack, Some(&token), Some(session.as_str()), prompt, true).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(
        refused.content_type.starts_with("application/json"),
        "{}",
        refused.content_type
    );
    assert_eq!(
        refused.json()["error"]["code"],
        "user_rate_limited",
        "{}",
        refused.body
    );
    assert_eq!(model.requests().len(), models, "the model was called");
    // What a refused turn may have spent: at most its one input check.
    assert!(guardrail.calls().len() <= checks + 1);
}
