//! The agent's own cost, measured beside what it waits for, in one run:
//!
//! - `turn/agent`: one whole invocation over HTTP (token verified, session checked, the
//!   session's kept MCP session to the Gateway emulation, two model rounds with one tool call,
//!   JSON reply), with every
//!   upstream answering at once (model stand-in, Gateway emulation over an instant target);
//! - `turn/upstream only`: the same upstream calls made directly, through the same clients
//!   (guardrail on the prompt, a call on an MCP session opened once, two chat completions,
//!   guardrail on the answer), without the agent around them.
//!   The difference is the agent's own overhead per turn.
//! - `start/to healthy ping`: spawn of the binary to the first 200 on /ping.
//!
//! Run: scripts/bench.sh (or cargo bench -p agent-runtime --bench turn)

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_runtime::config::ModelConfig;
use agent_runtime::guardrail::{Guardrail, GuardrailSettings};
use agent_runtime::model::{ChatClient, Message, Role};
use agent_runtime::tools::{Gateway, Toolbox};
use common::{FakeTarget, SESSION_KEY_B64, caller, invoke, standard};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use testkit::test_issuer;

const PROMPT: &str = "What are our opening hours?";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let target = FakeTarget::with_hour(10);
    let (stack, model, gw) = rt.block_on(standard("basic", &target));
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let ask = || {
        invoke(
            &stack,
            Some(&token),
            Some(session.as_str()),
            json!({"prompt": black_box(PROMPT)}),
            false,
        )
    };
    // Warm: JWKS cached, connections open; and check the turn really calls a tool.
    let first = rt.block_on(ask());
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["tool_calls"][0]["tool"], "clinic_config");

    let cat = common::catalog();
    let tier = cat.config(&cat.tier("basic").unwrap()).unwrap().clone();
    let http = reqwest::Client::new();
    let gateway = Gateway::new(
        common::signed_gateway_client(http.clone(), "basic"),
        gw.url(),
        &tier,
    );
    let chat = ChatClient::new(
        http,
        ModelConfig {
            base_url: model.base_url(),
            auth: agent_runtime::config::ModelAuth::None,
            project: None,
            model_id: tier.model_id.clone(),
            attempt_timeout: Duration::from_secs(10),
        },
        None,
    );
    let ctx = common::ctx("basic", "clinic-a", test_issuer::USER_SUB);
    let guard = Guardrail::new(
        aws_sdk_bedrockruntime::Client::new(&testkit::sdk::config_for(
            &stack.guardrail.as_ref().expect("own guardrail").endpoint(),
        )),
        GuardrailSettings {
            id: common::GUARDRAIL_ID.into(),
            version: common::GUARDRAIL_VERSION.into(),
        },
        tier.guardrail.expect("the tier has a guardrail"),
    );

    // Kept for the whole conversation, as the agent keeps its runtime session's.
    let session = tenant_context::RuntimeSessionId::parse(&"b".repeat(40)).expect("session id");
    let tools = rt
        .block_on(gateway.connect(&token, &ctx, &session, &cat))
        .expect("gateway");
    let mut group = c.benchmark_group("turn");
    group.sample_size(30);
    group.bench_function("agent", |b| {
        b.iter(|| assert_eq!(rt.block_on(ask()).status, 200))
    });
    group.bench_function("upstream only", |b| {
        b.iter(|| {
            rt.block_on(async {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                guard.check_input(PROMPT).await.expect("guardrail in");
                let mut messages = vec![
                    Message::text(Role::System, "system"),
                    Message::text(Role::User, PROMPT),
                ];
                let first = chat
                    .complete(&messages, tools.specs(), 256, deadline)
                    .await
                    .expect("round 1");
                for call in &first.tool_calls {
                    let out = tools
                        .call(&call.function.name, serde_json::Map::new())
                        .await;
                    messages.push(Message::tool_result(&call.id, out.text));
                }
                let answer = chat
                    .complete(&messages, &[], 256, deadline)
                    .await
                    .expect("round 2");
                guard
                    .check_output(&answer.text.unwrap_or_default())
                    .await
                    .expect("guardrail out");
            })
        })
    });
    group.finish();

    let mut start = c.benchmark_group("start");
    start.sample_size(15);
    let jwks_url = test_issuer::jwks_url(&stack.jwks);
    start.bench_function("to healthy ping", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .expect("port");
                let began = Instant::now();
                let mut child = Command::new(env!("CARGO_BIN_EXE_agent-runtime"))
                    .env_clear()
                    .env("TENANTRY_TIER", "basic")
                    .env("TENANTRY_SESSION_KEY", SESSION_KEY_B64)
                    .env("TENANTRY_MODEL_BASE_URL", model.base_url())
                    .env("TENANTRY_GATEWAY_URL", gw.url())
                    .env("TENANTRY_TOKEN_ISSUER", test_issuer::ISSUER)
                    .env("TENANTRY_TOKEN_AUDIENCE", test_issuer::AUDIENCE)
                    .env("TENANTRY_JWKS_URL", &jwks_url)
                    .env("TENANTRY_LISTEN_ADDR", format!("127.0.0.1:{port}"))
                    .env("TENANTRY_GUARDRAIL_ID", common::GUARDRAIL_ID)
                    .env("AWS_REGION", "us-east-1")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn agent-runtime");
                while !emulators::agent::healthy(port) {
                    assert!(began.elapsed() < Duration::from_secs(10), "no /ping answer");
                    std::thread::sleep(Duration::from_micros(200));
                }
                total += began.elapsed();
                let _ = child.kill();
                let _ = child.wait();
            }
            total
        })
    });
    start.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
