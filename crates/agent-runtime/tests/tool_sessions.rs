//! The Gateway's MCP session is kept for the runtime session: a conversation's questions share
//! one (no handshake and tool listing per question), each question's own caller token goes
//! with its tool calls, another identity (a role change) never inherits it, and a session the
//! Gateway lost is re-established.

mod common;

use common::{FakeTarget, Upstreams, agent, caller, gateway, invoke, standard};
use emulators::fault_proxy::{Fault, FaultProxy};
use emulators::gateway::GatewayEmulation;
use emulators::model::ModelStandin;
use serde_json::{Value, json};
use testkit::test_issuer;

const HOURS: &str = "What are our opening hours?";

async fn ask(stack: &common::Stack, token: &str, session: &str, prompt: &str) -> Value {
    let reply = invoke(
        stack,
        Some(token),
        Some(session),
        json!({"prompt": prompt}),
        false,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn tools_called(reply: &Value) -> Vec<(String, String)> {
    reply["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tool"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The caller token the tool target received with its last call.
fn last_token(target: &FakeTarget) -> String {
    target
        .calls()
        .last()
        .unwrap()
        .client_context
        .propagated_headers
        .get(contracts::headers::ID_TOKEN)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_conversation_keeps_one_mcp_session_and_each_question_sends_its_own_token() {
    let target = FakeTarget::with_hour(10);
    let (stack, _model, gw) = standard("basic", &target).await;
    let (token, session) = caller(&stack, "basic", "clinic-a");

    let first = ask(&stack, &token, session.as_str(), HOURS).await;
    assert_eq!(
        tools_called(&first),
        [("clinic_config".into(), "ok".into())]
    );
    assert_eq!(last_token(&target), token);
    // The same user's next question, with a token issued later (a refresh).
    let mut claims = test_issuer::id_claims();
    claims["iat"] = (claims["iat"].as_u64().unwrap() + 1).into();
    let refreshed = test_issuer::sign(&claims);
    assert_ne!(refreshed, token);
    let second = ask(&stack, &refreshed, session.as_str(), HOURS).await;
    assert_eq!(
        tools_called(&second),
        [("clinic_config".into(), "ok".into())]
    );
    // One MCP session (one tool listing) for both questions, each call with its own token.
    assert_eq!(gw.tool_listings(), 1);
    assert_eq!(last_token(&target), refreshed);

    // Another runtime session of the same user: a session of its own.
    let (_, other) = caller(&stack, "basic", "clinic-a");
    ask(&stack, &token, other.as_str(), HOURS).await;
    assert_eq!(gw.tool_listings(), 2);
    assert_eq!(stack.deps.tools.kept_count(), 2);
}

#[tokio::test]
async fn a_role_change_in_a_conversation_opens_a_session_with_the_new_roles_tools() {
    let target = FakeTarget::with_hour(10);
    let (stack, model, gw) = standard("basic", &target).await;
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let prompt = "Summarise patient p-003";
    let as_clinician = ask(&stack, &token, session.as_str(), prompt).await;
    assert!(
        tools_called(&as_clinician)
            .iter()
            .any(|(t, s)| t == "patient_context" && s == "ok"),
        "{as_clinician}"
    );
    // The same user, now an admin (who may read no patient record), in the same session: the
    // session id is bound to the user, not the role, so only the kept MCP session's owner
    // check keeps the clinician's tool list from serving the admin.
    let mut claims = test_issuer::id_claims();
    claims["custom:role"] = "admin".into();
    let admin = test_issuer::sign(&claims);
    let as_admin = ask(&stack, &admin, session.as_str(), prompt).await;
    assert!(
        !tools_called(&as_admin)
            .iter()
            .any(|(t, _)| t == "patient_context"),
        "{as_admin}"
    );
    assert_eq!(gw.tool_listings(), 2);
    let offered = model.requests().last().unwrap().tools.clone();
    assert!(
        !offered.iter().any(|t| t == "patient_context"),
        "{offered:?}"
    );
    assert_eq!(stack.deps.tools.kept_count(), 1);
}

#[tokio::test]
async fn a_session_the_gateway_lost_is_re_established() {
    let target = FakeTarget::with_hour(10);
    let jwks = test_issuer::jwks_server().await;
    let model = ModelStandin::start(0).await.unwrap();
    let first_gw = gateway("basic", &target, &jwks).await;
    let port: u16 = first_gw
        .url()
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/mcp")
        .parse()
        .unwrap();
    // The agent reaches the Gateway through a proxy that can cut it off, as a restart would.
    let proxy = FaultProxy::start(&first_gw.url()).await.unwrap();
    let stack = agent(
        "basic",
        jwks,
        Upstreams::new(model.base_url(), proxy.rewrite(&first_gw.url())),
        &[],
    )
    .await;
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let before = ask(&stack, &token, session.as_str(), HOURS).await;
    assert_eq!(
        tools_called(&before),
        [("clinic_config".into(), "ok".into())]
    );

    // The Gateway restarts: every connection is cut, and the new process knows no session.
    proxy.set(Fault::Down).await.unwrap();
    drop(first_gw);
    let cat = common::catalog();
    // The old process lets go of its port once its task has seen the abort.
    let mut second_gw = None;
    for _ in 0..100 {
        let started =
            GatewayEmulation::start(cat.tier("basic").unwrap(), &cat, target.backend(), port).await;
        if let Ok(gw) = started {
            second_gw = Some(gw);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let second_gw = second_gw.expect("the Gateway restarted on its port");
    proxy.set(Fault::None).await.unwrap();

    let after = ask(&stack, &token, session.as_str(), HOURS).await;
    assert_eq!(
        tools_called(&after),
        [("clinic_config".into(), "ok".into())]
    );
    // The call reached the new Gateway, under a session it opened.
    assert!(
        second_gw
            .decisions()
            .iter()
            .any(|d| d.action.contains("clinic_config") && d.permitted),
        "{:?}",
        second_gw.decisions()
    );

    // Down while a question is asked: that question is answered without the tool, and the
    // next one, with the Gateway back, has its tools again.
    proxy.set(Fault::Down).await.unwrap();
    let during = ask(&stack, &token, session.as_str(), HOURS).await;
    assert!(
        !tools_called(&during)
            .iter()
            .any(|(_, status)| status == "ok"),
        "{during}"
    );
    proxy.set(Fault::None).await.unwrap();
    let back = ask(&stack, &token, session.as_str(), HOURS).await;
    assert_eq!(tools_called(&back), [("clinic_config".into(), "ok".into())]);
    // The session the failed call was on was given up, and a new one opened (listed).
    assert_eq!(second_gw.tool_listings(), 1);
    assert_eq!(stack.deps.tools.kept_count(), 1);
}
