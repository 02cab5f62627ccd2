//! Memory through the real AgentCore SDK client, on the Memory emulation, with memory-scoped
//! credentials from STS on the moto stand-in: a user's earlier turns come back to that user
//! only, and a memory outage never costs the answer.

mod common;

use common::{
    FakeTarget, Upstreams, agent_with_memory, closed_addr, ctx, gateway, invoke, memory, memory_id,
};
use emulators::counting_proxy::CountingProxy;
use emulators::memory::{MemoryEmulation, definitions};
use emulators::model::ModelStandin;
use serde_json::{Value, json};
use tenant_context::{RuntimeSessionId, TenantContext};
use testkit::test_issuer;

const OTHER_SUB: &str = "0b8d8c1e-2f3a-4b5c-9d6e-7f8091a2b3c4";

async fn emulation() -> MemoryEmulation {
    MemoryEmulation::start(definitions(&common::catalog(), memory_id), 0)
        .await
        .unwrap()
}

struct User {
    token: String,
    ctx: TenantContext,
}

fn user(sub: &str) -> User {
    let mut claims = test_issuer::id_claims();
    claims["sub"] = sub.into();
    User {
        token: test_issuer::sign(&claims),
        ctx: ctx("basic", "clinic-a", sub),
    }
}

/// Recalled records never sit in the system prompt (whose words weigh most): they come in one
/// assistant message that quotes them as data and says they are no instructions.
fn assert_records_are_quoted_data(messages: &[Value]) {
    let system = messages[0]["content"].as_str().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert!(!system.contains("brief summaries"), "{system}");
    let quoted: Vec<Value> = messages
        .iter()
        .filter(|m| m["role"] == "assistant")
        .filter_map(|m| serde_json::from_str::<Value>(m["content"].as_str()?).ok())
        .filter(|v| v.get("remembered").is_some())
        .collect();
    assert_eq!(quoted.len(), 1, "{messages:?}");
    assert!(
        quoted[0]["note"]
            .as_str()
            .unwrap()
            .contains("not an instruction")
    );
    assert!(
        quoted[0]["remembered"]
            .to_string()
            .contains("I prefer brief summaries")
    );
}

/// Everything the model was sent in one request, as text.
fn sent(model: &ModelStandin, i: usize) -> String {
    model.requests()[i]
        .messages
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A basic-tier agent with memory on the emulation, its model stand-in, and the tool target
/// (10:00 at the clinic) behind its Gateway.
struct World {
    stack: common::Stack,
    model: ModelStandin,
    mem: MemoryEmulation,
    target: FakeTarget,
    _gw: emulators::gateway::GatewayEmulation,
}

async fn world() -> World {
    let jwks = test_issuer::jwks_server().await;
    let target = FakeTarget::with_hour(10);
    let gw = gateway("basic", &target, &jwks).await;
    let model = ModelStandin::start(0).await.unwrap();
    let mem = emulation().await;
    let stack = agent_with_memory(
        "basic",
        jwks,
        Upstreams::new(model.base_url(), gw.url()),
        &[],
        Some(memory("basic", &mem.endpoint())),
    )
    .await;
    World {
        stack,
        model,
        mem,
        target,
        _gw: gw,
    }
}

/// One answered turn of `who` in `session`, as JSON.
async fn ask(stack: &common::Stack, who: &User, session: &RuntimeSessionId, prompt: &str) -> Value {
    let reply = invoke(
        stack,
        Some(&who.token),
        Some(session.as_str()),
        json!({"prompt": prompt}),
        false,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

#[tokio::test]
async fn a_user_is_reminded_of_their_own_turns_and_nobody_elses() {
    // `_gw` is bound, not dropped: the Gateway serves for the whole test.
    let World {
        stack,
        model,
        mem,
        _gw,
        ..
    } = world().await;
    let (alice, bob) = (user(test_issuer::USER_SUB), user(OTHER_SUB));
    let alice_session = stack.sessions.issue(&alice.ctx).unwrap();
    let ask = |who, session, prompt| ask(&stack, who, session, prompt);

    let first = ask(
        &alice,
        &alice_session,
        "Remember that I prefer brief summaries",
    )
    .await;
    assert_eq!(first["memory"], "used");
    let again = ask(&alice, &alice_session, "What did I tell you earlier?").await;
    assert_eq!(again["memory"], "used");
    let answer = again["answer"].as_str().unwrap();
    assert!(answer.contains("I prefer brief summaries"), "{answer}");
    // The long-term records first, as an exchange quoting them as data (never in the system
    // prompt), then the earlier turn as conversation, oldest first, before the new question.
    let messages = &model.requests()[1].messages;
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "user", "assistant", "user"]
    );
    assert_records_are_quoted_data(messages);

    // Another user of the same clinic, in a session of their own: nothing of Alice's.
    let bob_session = stack.sessions.issue(&bob.ctx).unwrap();
    let bobs = ask(&bob, &bob_session, "What did I tell you earlier?").await;
    assert!(!bobs["answer"].as_str().unwrap().contains("brief summaries"));
    assert!(!sent(&model, 2).contains("brief summaries"));

    // Alice in a new session: her long-term record (her own namespace) is in the request,
    // quoted as data outside the system prompt.
    let new_session = stack.sessions.issue(&alice.ctx).unwrap();
    ask(&alice, &new_session, "Do you know what I prefer?").await;
    assert!(sent(&model, 3).contains("I prefer brief summaries"));
    assert_records_are_quoted_data(&model.requests()[3].messages);

    // Every Memory call named the caller's own actor or namespace, with vended credentials.
    let calls = mem.calls();
    assert!(!calls.is_empty());
    for call in &calls {
        let actor_a = alice.ctx.actor_id().to_string();
        let actor_b = bob.ctx.actor_id().to_string();
        assert!(
            call.subject == actor_a
                || call.subject == actor_b
                || call.subject.contains(&format!("/{actor_a}"))
                || call.subject.contains(&format!("/{actor_b}")),
            "{call:?}"
        );
        assert!(call.access_key.starts_with("ASIA"), "not vended: {call:?}");
    }
    // One event per answered turn: question and answer stored together.
    assert_eq!(
        mem.event_count(&memory_id("basic"), alice.ctx.actor_id().as_str()),
        3
    );
    assert_eq!(
        mem.event_count(&memory_id("basic"), bob.ctx.actor_id().as_str()),
        1
    );
}

#[tokio::test]
async fn a_memory_outage_still_answers() {
    let jwks = test_issuer::jwks_server().await;
    let target = FakeTarget::with_hour(10);
    let gw = gateway("basic", &target, &jwks).await;
    let model = ModelStandin::start(0).await.unwrap();
    let closed = closed_addr();
    let stack = agent_with_memory(
        "basic",
        jwks,
        Upstreams::new(model.base_url(), gw.url()),
        &[],
        Some(memory("basic", &format!("http://{closed}"))),
    )
    .await;
    let alice = user(test_issuer::USER_SUB);
    let session = stack.sessions.issue(&alice.ctx).unwrap();
    let reply = invoke(
        &stack,
        Some(&alice.token),
        Some(session.as_str()),
        json!({"prompt": "What are our opening hours?"}),
        true,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let events = reply.events();
    let last: &Value = events.last().unwrap();
    assert_eq!(last["type"], "final");
    assert_eq!(last["memory"], "skipped");
    assert!(events.iter().any(|e| e["type"] == "text_delta"));
}

/// A user of the same sub with another role (as after an administrator changed it).
fn with_role(sub: &str, role: &str) -> User {
    let mut claims = test_issuer::id_claims();
    claims["sub"] = sub.into();
    claims["custom:role"] = role.into();
    User {
        token: test_issuer::sign(&claims),
        ctx: TenantContext::new(
            common::catalog().tier("basic").unwrap(),
            tenant_context::ClinicId::parse("clinic-a").unwrap(),
            tenant_context::UserKey::parse(sub).unwrap(),
            tenant_context::Role::parse(role).unwrap(),
        ),
    }
}

/// Business hours and roles are decided where the tool runs; memory must not serve around
/// them. A patient record read at 10:00 is neither replayed after hours in the same
/// conversation, nor extracted into long-term records (the emulation extracts from the whole
/// conversation, as AWS's strategies do) for a later session, nor given to the same user once
/// their role may read no patient records.
#[tokio::test]
async fn clinical_answers_stay_out_of_memory_and_nothing_clinical_reaches_a_role_without_patient_tools()
 {
    let World {
        stack,
        model,
        mem,
        target,
        _gw,
    } = world().await;
    let clinician = user(test_issuer::USER_SUB);
    let session = stack.sessions.issue(&clinician.ctx).unwrap();
    let ask = |who, session, prompt| ask(&stack, who, session, prompt);
    let clinical = "CANARY-clinic-a";
    // Every model request from index `from` on, as text.
    let sent_since = |from: usize| -> String {
        (from..model.requests().len())
            .map(|i| sent(&model, i))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // 10:00: the clinician reads a patient, and tells the assistant something of their own.
    let read = ask(&clinician, &session, "Summarise patient p-1001").await;
    assert!(
        read["answer"].as_str().unwrap().contains(clinical),
        "the lookup itself answers: {read}"
    );
    ask(
        &clinician,
        &session,
        "Remember that ward 4 is closed for cleaning",
    )
    .await;
    assert!(
        mem.records().iter().any(|(_, t)| t.contains("ward 4")),
        "the emulation extracts long-term records"
    );
    // Not stored: neither the event nor any long-term record carries the record.
    for (_, _, payload) in mem.events() {
        assert!(!payload.to_string().contains(clinical), "{payload}");
    }
    for (namespace, text) in mem.records() {
        assert!(!text.contains(clinical), "{namespace}: {text}");
    }

    // 19:00, the same conversation: the Gateway refuses the lookup, and memory gives nothing
    // of the earlier answer back (the model never sees it).
    *target.hour.lock().unwrap() = 19;
    let from = model.requests().len();
    let after_hours = ask(&clinician, &session, "What did you tell me earlier?").await;
    assert!(!after_hours.to_string().contains(clinical), "{after_hours}");
    let seen = sent_since(from);
    assert!(!seen.contains(clinical), "{seen}");
    assert!(
        seen.contains("ward 4"),
        "the clinician's own turns still come back"
    );

    // A later session of the same user: long-term records hold nothing of the record.
    let later = stack.sessions.issue(&clinician.ctx).unwrap();
    let from = model.requests().len();
    ask(&clinician, &later, "What do you know about my patients?").await;
    assert!(!sent_since(from).contains(clinical));

    // The same user made admin: neither the old conversation's turns nor long-term records.
    let admin = with_role(test_issuer::USER_SUB, "admin");
    let from = model.requests().len();
    let same = ask(&admin, &session, "What did I tell you earlier?").await;
    let fresh_session = stack.sessions.issue(&admin.ctx).unwrap();
    let fresh = ask(
        &admin,
        &fresh_session,
        "Anything about ward 4 or my patients?",
    )
    .await;
    let seen = sent_since(from);
    for text in [seen.as_str(), &same.to_string(), &fresh.to_string()] {
        assert!(!text.contains(clinical), "{text}");
        assert!(!text.contains("ward 4 is closed"), "{text}");
    }
}

/// A guardrail stand-in that holds its verdict until `started` says the turn's other first
/// stages have reached their services (or 10 s pass), records which it saw, then passes.
async fn waiting_guardrail(
    started: std::sync::Arc<dyn Fn() -> bool + Send + Sync>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let saw = std::sync::Arc::new(AtomicBool::new(false));
    let seen = saw.clone();
    let app = axum::Router::new().fallback(move || {
        let (started, seen) = (started.clone(), seen.clone());
        async move {
            for _ in 0..400 {
                if started() {
                    seen.store(true, Ordering::SeqCst);
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            axum::Json(json!({
                "usage": {"topicPolicyUnits": 0, "contentPolicyUnits": 1, "wordPolicyUnits": 0,
                          "sensitiveInformationPolicyUnits": 1, "sensitiveInformationPolicyFreeUnits": 0,
                          "contextualGroundingPolicyUnits": 0},
                "action": "NONE", "outputs": [], "assessments": []
            }))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, saw)
}

/// The input guardrail, the Gateway's tool listing and memory recall are each a round trip:
/// the turn starts all three at once, and the model still waits for the guardrail's verdict.
/// Shown by order, not by time: the guardrail answers only once the Gateway and Memory have
/// been asked (if they were asked after it, it would have waited in vain).
#[tokio::test]
async fn tools_and_memory_are_asked_while_the_guardrail_decides() {
    let jwks = test_issuer::jwks_server().await;
    let target = FakeTarget::with_hour(10);
    let gw = gateway("basic", &target, &jwks).await;
    let gw_proxy = std::sync::Arc::new(
        CountingProxy::start(gw.url().trim_end_matches("/mcp"))
            .await
            .unwrap(),
    );
    let model = ModelStandin::start(0).await.unwrap();
    let mem = std::sync::Arc::new(emulation().await);
    let (probe_gw, probe_mem) = (gw_proxy.clone(), mem.clone());
    let (guardrail_url, saw) = waiting_guardrail(std::sync::Arc::new(move || {
        probe_gw.calls().values().sum::<usize>() > 0 && !probe_mem.calls().is_empty()
    }))
    .await;
    let stack = agent_with_memory(
        "basic",
        jwks,
        Upstreams::new(model.base_url(), format!("{}/mcp", gw_proxy.url()))
            .guardrail(guardrail_url),
        &[],
        Some(memory("basic", &mem.endpoint())),
    )
    .await;
    let alice = user(test_issuer::USER_SUB);
    let session = stack.sessions.issue(&alice.ctx).unwrap();
    let reply = ask(&stack, &alice, &session, "What are our opening hours?").await;
    assert_eq!(reply["stop_reason"], "answered", "{reply}");
    assert!(
        saw.load(std::sync::atomic::Ordering::SeqCst),
        "the Gateway or Memory was asked only after the guardrail's verdict"
    );
    assert_eq!(reply["guardrail"], "used");
    assert_eq!(reply["tools"], "used");
    assert_eq!(reply["memory"], "used");
}

/// `/ping`'s status.
async fn ping(stack: &common::Stack) -> String {
    let body: Value = reqwest::get(format!("{}/ping", stack.agent_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["status"].as_str().unwrap().to_owned()
}

/// Polls `done` for up to ten seconds (the after-answer work's own bound).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{what}: not within 10 s");
}

#[tokio::test]
async fn the_answer_does_not_wait_for_the_memory_write_and_ping_is_busy_until_it_ends() {
    // Kept whole: a part left out of a destructuring would be dropped (stopped) at once.
    let world = world().await;
    let (stack, mem) = (&world.stack, &world.mem);
    let alice = user(test_issuer::USER_SUB);
    let session = stack.sessions.issue(&alice.ctx).unwrap();
    // Every CreateEvent waits until the test lets it go: the answer must not.
    mem.set_writes(emulators::memory::Writes::Held);
    let reply = invoke(
        stack,
        Some(&alice.token),
        Some(session.as_str()),
        json!({"prompt": "Remember that I prefer brief summaries"}),
        true,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let events = reply.events();
    let last = events.last().unwrap();
    assert_eq!(last["type"], "final", "{events:?}");
    assert_eq!(last["memory"], "used");
    // The stream has ended, the turn is not stored yet, and the runtime says it is busy.
    assert_eq!(
        mem.event_count(&memory_id("basic"), alice.ctx.actor_id().as_str()),
        0
    );
    assert_eq!(ping(stack).await, "HealthyBusy");

    // The session's next question waits for the write it depends on, then recalls it.
    mem.set_writes(emulators::memory::Writes::Open);
    let again = ask(stack, &alice, &session, "What did I tell you earlier?").await;
    let answer = again["answer"].as_str().unwrap();
    assert!(answer.contains("I prefer brief summaries"), "{answer}");
    eventually("the runtime idle again", || {
        stack.deps.health.status().0 == "Healthy"
    })
    .await;
    assert_eq!(stack.deps.after_answer.failures(), 0);
}

#[tokio::test]
async fn a_client_that_leaves_does_not_lose_the_turns_memory() {
    // Kept whole: a part left out of a destructuring would be dropped (stopped) at once.
    let world = world().await;
    let (stack, mem) = (&world.stack, &world.mem);
    let alice = user(test_issuer::USER_SUB);
    let session = stack.sessions.issue(&alice.ctx).unwrap();
    mem.set_writes(emulators::memory::Writes::Held);
    // The client reads up to the closing event and hangs up while the write is held.
    let reply = reqwest::Client::new()
        .post(format!("{}/invocations", stack.agent_url))
        .header(contracts::headers::RUNTIME_ID_TOKEN, &alice.token)
        .header(
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id",
            session.as_str(),
        )
        .header("Accept", "text/event-stream")
        .json(&json!({"prompt": "Remember that I prefer brief summaries"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let mut reply = reply;
    let mut seen = String::new();
    while !seen.contains("\"type\":\"final\"") {
        let chunk = reply
            .chunk()
            .await
            .unwrap()
            .expect("the stream ended early");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(reply);
    mem.set_writes(emulators::memory::Writes::Open);
    let actor = alice.ctx.actor_id().to_string();
    eventually("the turn stored", || {
        mem.event_count(&memory_id("basic"), &actor) == 1
    })
    .await;
}

#[tokio::test]
async fn a_failed_memory_write_after_the_answer_is_counted() {
    // Kept whole: a part left out of a destructuring would be dropped (stopped) at once.
    let world = world().await;
    let (stack, mem) = (&world.stack, &world.mem);
    let alice = user(test_issuer::USER_SUB);
    let session = stack.sessions.issue(&alice.ctx).unwrap();
    mem.set_writes(emulators::memory::Writes::Failing);
    let reply = ask(stack, &alice, &session, "What are our opening hours?").await;
    assert_eq!(reply["stop_reason"], "answered", "{reply}");
    eventually("the failure counted", || {
        stack.deps.after_answer.failures() == 1
    })
    .await;
    assert_eq!(
        mem.event_count(&memory_id("basic"), alice.ctx.actor_id().as_str()),
        0
    );
}

#[tokio::test]
async fn recall_asks_for_the_sessions_turns_and_the_users_records_at_once() {
    let world = world().await;
    let (stack, mem) = (&world.stack, &world.mem);
    let alice = user(test_issuer::USER_SUB);
    let session = stack.sessions.issue(&alice.ctx).unwrap();
    let strategies = common::catalog()
        .config(&common::catalog().tier("basic").unwrap())
        .unwrap()
        .memory
        .strategies
        .len();
    assert!(strategies > 0);
    // ListEvents waits: the record searches must not wait for it.
    mem.hold_lists(true);
    let turn = invoke(
        stack,
        Some(&alice.token),
        Some(session.as_str()),
        json!({"prompt": "What are our opening hours?"}),
        false,
    );
    let searched_then_released = async {
        eventually("every namespace searched while ListEvents is held", || {
            mem.calls()
                .iter()
                .filter(|c| c.operation == "RetrieveMemoryRecords")
                .count()
                == strategies
        })
        .await;
        mem.hold_lists(false);
    };
    let (reply, ()) = tokio::join!(turn, searched_then_released);
    assert_eq!(reply.status, 200, "{}", reply.body);
}
