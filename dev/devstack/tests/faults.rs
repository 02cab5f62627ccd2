//! Fault injection through the whole local stack: every dependency (STS, DynamoDB, the JWKS,
//! Memory, the Knowledge Base, the model, the Gateways) is taken down, slowed and brought back
//! while a clinician keeps asking, through a LOCAL fault proxy in front of it
//! (`Options::faults`). Expected: no patient data without the checks that guard it (fail
//! closed), a typed error where the turn cannot be answered and `retryable` where retrying
//! helps, no half-written memory, no panic in any process, and service as before once the
//! dependency is back.
//!
//! Needs the stand-ins (scripts/test.sh starts them) and cargo-lambda on PATH.

mod support;

use std::time::Duration;

use devstack::DevStack;
use devstack::client::{Answer, ask};
use devstack::faults::Service;
use emulators::fault_proxy::Fault;

/// hospital-x is premium (no business hours), so its data tools answer at any time of day.
const DATA: &str = "Show patient p-5001";
const DATA_NAME: &str = "Jonas Whitfield";
const DOCS: &str = "What do our imaging study reports say?";
const DOCS_CITED: &str = "/premium-tier/hospital-x/imaging-studies/";

/// A turn that hangs is a failure too: every layer has a deadline.
async fn turn(stack: &DevStack, token: &str, prompt: &str, session: Option<&str>) -> Answer {
    let http = reqwest::Client::new();
    tokio::time::timeout(
        Duration::from_secs(120),
        ask(&http, &stack.api.invoke_url(), token, prompt, session, &[]),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer within 120 s to {prompt:?}"))
    .unwrap()
}

fn text(a: &Answer) -> String {
    a.body.to_string()
}

/// The status of the named tool's calls in the turn (`ok`, `error`, `denied`).
fn tool_statuses(a: &Answer, tool: &str) -> Vec<String> {
    a.body["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .filter(|c| c["tool"] == tool)
                .map(|c| c["status"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn answered_with(a: &Answer, marker: &str, what: &str) {
    assert_eq!(a.status, 200, "{what}: {}", text(a));
    assert!(
        a.body["answer"]
            .as_str()
            .unwrap_or_default()
            .contains(marker),
        "{what}: expected {marker:?} in the answer: {}",
        text(a)
    );
}

/// A turn the agent could not complete: a typed error event (or refusal) naming its code.
fn typed_error(a: &Answer) -> (String, bool) {
    let code = a.body["error"]
        .as_str()
        .or_else(|| a.body["error"]["code"].as_str())
        .unwrap_or_else(|| panic!("expected a typed error: {}", text(a)))
        .to_owned();
    (code, a.body["retryable"].as_bool().unwrap_or(false))
}

fn no_panics(stack: &DevStack) {
    for entry in std::fs::read_dir(&stack.options.run_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !log.contains("panicked"),
                "a process panicked ({}): {}",
                path.display(),
                log.lines()
                    .find(|l| l.contains("panicked"))
                    .unwrap_or_default()
            );
        }
    }
}

/// Every stored memory event holds a whole turn: the question and the answer.
async fn whole_turns_only(stack: &DevStack) -> usize {
    settled(stack).await;
    let events = stack.assistant.memory.events();
    for (actor, session, payload) in &events {
        let roles: Vec<&str> = payload
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["conversational"]["role"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            roles,
            ["USER", "ASSISTANT"],
            "a half-written turn of {actor} in {session}: {payload}"
        );
    }
    events.len()
}

/// Waits until every agent's `/ping` says `Healthy`: the work after its answers (storing the
/// turn, counting usage) has ended, so what Memory holds is what the turns left.
async fn settled(stack: &DevStack) {
    let http = reqwest::Client::new();
    for _ in 0..1000 {
        let mut busy = false;
        for (_, agent, _) in &stack.assistant.agents {
            let status: serde_json::Value =
                match http.get(format!("{}/ping", agent.url())).send().await {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(_) => serde_json::Value::Null,
                };
            busy |= status["status"] != "Healthy";
        }
        if !busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the agents stayed busy for 20 s");
}

#[tokio::test]
async fn each_dependency_down_fails_closed_and_service_returns_when_it_is_back() {
    let stack = support::stack_configured("faults", |o| o.faults = true).await;
    let x = stack.sign_in("hospital-x").await.unwrap();
    answered_with(&turn(&stack, &x, DATA, None).await, DATA_NAME, "baseline");
    answered_with(&turn(&stack, &x, DOCS, None).await, DOCS_CITED, "baseline");

    // STS: a user whose scoped credentials are cached keeps working (one AssumeRole per
    // credential lifetime); a user without them gets no data, and no unscoped fallback.
    stack.faults.set(Service::Sts, Fault::Down).await.unwrap();
    answered_with(
        &turn(&stack, &x, DATA, None).await,
        DATA_NAME,
        "STS down, credentials cached",
    );
    let y = stack.sign_in("hospital-y").await.unwrap();
    let a = turn(&stack, &y, "Show patient p-6001", None).await;
    assert_eq!(a.status, 200, "{}", text(&a));
    assert!(
        !text(&a).contains("Maeve"),
        "data without credentials: {}",
        text(&a)
    );
    assert_eq!(
        tool_statuses(&a, "patient_context"),
        ["error"],
        "{}",
        text(&a)
    );
    stack.faults.set(Service::Sts, Fault::None).await.unwrap();
    answered_with(
        &turn(&stack, &y, "Show patient p-6001", None).await,
        "Maeve O'Sullivan",
        "STS back",
    );

    // DynamoDB: the clinic's data cannot be read; nothing else is read in its place.
    stack
        .faults
        .set(Service::DynamoDb, Fault::Down)
        .await
        .unwrap();
    let a = turn(&stack, &x, DATA, None).await;
    assert!(!text(&a).contains(DATA_NAME), "{}", text(&a));
    if a.status == 200 {
        assert_eq!(
            tool_statuses(&a, "patient_context"),
            ["error"],
            "{}",
            text(&a)
        );
    } else {
        // The authorizer's registry lookup failed before its cache held the tenant.
        assert!(a.status >= 500, "{}", text(&a));
    }
    stack
        .faults
        .set(Service::DynamoDb, Fault::None)
        .await
        .unwrap();
    answered_with(
        &turn(&stack, &x, DATA, None).await,
        DATA_NAME,
        "DynamoDB back",
    );

    // JWKS: every verifier holds the keys it fetched; a new token of a known key verifies.
    stack.faults.set(Service::Jwks, Fault::Down).await.unwrap();
    let fresh = stack.sign_in("hospital-x").await.unwrap();
    answered_with(
        &turn(&stack, &fresh, DATA, None).await,
        DATA_NAME,
        "JWKS down, keys cached",
    );
    stack.faults.set(Service::Jwks, Fault::None).await.unwrap();

    // Memory: answered without it, said so, nothing stored; a later turn is stored whole.
    let before = whole_turns_only(&stack).await;
    stack
        .faults
        .set(Service::Memory, Fault::Down)
        .await
        .unwrap();
    let a = turn(
        &stack,
        &x,
        "Remember that the pharmacy closes at noon",
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", text(&a));
    assert_eq!(a.body["memory"], "skipped", "{}", text(&a));
    let session = a.session.clone().expect("a session id");
    assert_eq!(
        whole_turns_only(&stack).await,
        before,
        "stored while Memory was down"
    );
    stack
        .faults
        .set(Service::Memory, Fault::None)
        .await
        .unwrap();
    let a = turn(&stack, &x, "What did I tell you earlier?", Some(&session)).await;
    assert_eq!(a.status, 200, "{}", text(&a));
    assert_eq!(a.body["memory"], "used", "{}", text(&a));
    assert!(!text(&a).contains("pharmacy"), "{}", text(&a));
    assert_eq!(
        whole_turns_only(&stack).await,
        before + 1,
        "the turn after recovery is stored"
    );

    // Knowledge Base: no documents, no citations of anything else.
    stack
        .faults
        .set(Service::KnowledgeBase, Fault::Down)
        .await
        .unwrap();
    let a = turn(&stack, &x, DOCS, None).await;
    assert_eq!(a.status, 200, "{}", text(&a));
    assert!(!text(&a).contains("s3://"), "{}", text(&a));
    assert_eq!(
        tool_statuses(&a, "retrieve_clinic_documents"),
        ["error"],
        "{}",
        text(&a)
    );
    stack
        .faults
        .set(Service::KnowledgeBase, Fault::None)
        .await
        .unwrap();
    answered_with(
        &turn(&stack, &x, DOCS, None).await,
        DOCS_CITED,
        "Knowledge Base back",
    );

    // Model: no answer can be made; a typed error that says retrying helps.
    stack.faults.set(Service::Model, Fault::Down).await.unwrap();
    let a = turn(&stack, &x, DATA, None).await;
    assert!(!text(&a).contains(DATA_NAME), "{}", text(&a));
    let (code, retryable) = typed_error(&a);
    assert!(retryable, "{code} should be retryable: {}", text(&a));
    stack.faults.set(Service::Model, Fault::None).await.unwrap();
    answered_with(&turn(&stack, &x, DATA, None).await, DATA_NAME, "model back");

    // Gateway: answered without tools, and said so; no data without the tool path's checks.
    stack
        .faults
        .set(Service::Gateway, Fault::Down)
        .await
        .unwrap();
    let a = turn(&stack, &x, DATA, None).await;
    assert_eq!(a.status, 200, "{}", text(&a));
    assert_eq!(a.body["tools"], "skipped", "{}", text(&a));
    assert!(!text(&a).contains(DATA_NAME), "{}", text(&a));
    stack
        .faults
        .set(Service::Gateway, Fault::None)
        .await
        .unwrap();
    answered_with(
        &turn(&stack, &x, DATA, None).await,
        DATA_NAME,
        "Gateway back",
    );

    no_panics(&stack);
}

#[tokio::test]
async fn slow_dependencies_slow_the_answer_but_do_not_change_it() {
    let stack = support::stack_configured("slowdeps", |o| o.faults = true).await;
    let x = stack.sign_in("hospital-x").await.unwrap();
    for service in Service::ALL {
        stack
            .faults
            .set(service, Fault::Slow(Duration::from_millis(400)))
            .await
            .unwrap();
    }
    let a = turn(&stack, &x, DATA, None).await;
    answered_with(&a, DATA_NAME, "every dependency slow");
    assert_eq!(a.body["memory"], "used", "{}", text(&a));
    answered_with(
        &turn(&stack, &x, DOCS, a.session.as_deref()).await,
        DOCS_CITED,
        "every dependency slow",
    );
    for service in Service::ALL {
        stack.faults.set(service, Fault::None).await.unwrap();
    }
    answered_with(
        &turn(&stack, &x, DATA, None).await,
        DATA_NAME,
        "back to speed",
    );
    let stored = whole_turns_only(&stack).await;
    assert!(stored >= 3, "{stored}");

    // The model dies in the middle of a turn (its connection cut while it is answering).
    stack
        .faults
        .set(Service::Model, Fault::Slow(Duration::from_millis(1500)))
        .await
        .unwrap();
    let cut = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        stack.faults.set(Service::Model, Fault::Down).await.unwrap();
    };
    let (a, ()) = tokio::join!(turn(&stack, &x, DATA, None), cut);
    assert!(!text(&a).contains(DATA_NAME), "{}", text(&a));
    let (code, retryable) = typed_error(&a);
    assert!(retryable, "{code} should be retryable: {}", text(&a));
    assert_eq!(
        whole_turns_only(&stack).await,
        stored,
        "a turn without an answer was stored"
    );
    stack.faults.set(Service::Model, Fault::None).await.unwrap();
    answered_with(
        &turn(&stack, &x, DATA, None).await,
        DATA_NAME,
        "model restarted",
    );
    no_panics(&stack);
}

/// Patient data leaves tool-target only once its access is recorded: with the audit trail
/// down the question is answered without the patient's record, and with it back, with it.
#[tokio::test]
async fn without_its_audit_trail_no_patient_data_is_served() {
    let stack = support::stack_configured("auditdown", |o| o.faults = true).await;
    let x = stack.sign_in("hospital-x").await.unwrap();
    stack
        .faults
        .set(Service::AuditLog, Fault::Down)
        .await
        .unwrap();
    let a = turn(&stack, &x, DATA, None).await;
    assert!(!text(&a).contains(DATA_NAME), "{}", text(&a));
    stack
        .faults
        .set(Service::AuditLog, Fault::None)
        .await
        .unwrap();
    answered_with(
        &turn(&stack, &x, DATA, None).await,
        DATA_NAME,
        "audit trail back",
    );
    no_panics(&stack);
}

#[tokio::test]
async fn the_stack_refuses_faults_it_has_no_proxy_for() {
    let faults = devstack::faults::Faults::new(false);
    assert!(faults.set(Service::Model, Fault::Down).await.is_err());
    assert!(!faults.enabled());
}
