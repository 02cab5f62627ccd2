//! Traces from the real agent binary, exported over OTLP to the collector stand-in: every span
//! carries the tenant baggage from the verified token (not from what the caller sent), joins
//! the caller's trace, and nothing that can hold patient data leaves in a span.

mod common;

use std::time::Duration;

use common::FakeTarget;
use emulators::agent::{AgentProcess, free_port};
use emulators::guardrail::GuardrailEmulation;
use emulators::model::ModelStandin;
use emulators::otlp::{OtlpReceiver, ReceivedSpan};
use serde_json::json;
use tenant_context::session_log_id;
use testkit::test_issuer;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PROMPT: &str = "Summarise patient p-003 and tell me our opening hours";

async fn spans_of_trace(receiver: &OtlpReceiver, want: usize) -> Vec<ReceivedSpan> {
    for _ in 0..200 {
        let spans: Vec<ReceivedSpan> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == TRACE_ID)
            .collect();
        if spans.len() >= want && spans.iter().any(|s| s.name == "invoke_agent") {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("spans not exported within 10 s: {:?}", receiver.spans());
}

#[tokio::test]
async fn spans_carry_the_verified_tenant_and_no_patient_data() {
    let target = FakeTarget::with_hour(10);
    let jwks = test_issuer::jwks_server().await;
    let model = ModelStandin::start(0).await.unwrap();
    let gw = common::gateway("basic", &target, &jwks).await;
    let guardrail = GuardrailEmulation::start(common::GUARDRAIL_ID, common::GUARDRAIL_VERSION, 0)
        .await
        .unwrap();
    let receiver = OtlpReceiver::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("tenantry-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env = [
        ("TENANTRY_TIER", "basic".to_owned()),
        ("TENANTRY_SESSION_KEY", common::SESSION_KEY_B64.to_owned()),
        ("TENANTRY_MODEL_BASE_URL", model.base_url()),
        ("TENANTRY_GATEWAY_URL", gw.url()),
        ("TENANTRY_TOKEN_ISSUER", test_issuer::ISSUER.to_owned()),
        ("TENANTRY_TOKEN_AUDIENCE", test_issuer::AUDIENCE.to_owned()),
        ("TENANTRY_JWKS_URL", test_issuer::jwks_url(&jwks)),
        ("TENANTRY_GUARDRAIL_ID", common::GUARDRAIL_ID.to_owned()),
        (
            "TENANTRY_GUARDRAIL_VERSION",
            common::GUARDRAIL_VERSION.to_owned(),
        ),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", guardrail.endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        // The basic runtime role's local stand-in: the Gateway emulation lets only it in.
        (
            "AWS_ACCESS_KEY_ID",
            emulators::iam::LocalPrincipal::runtime("basic").access_key,
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            emulators::iam::LocalPrincipal::runtime("basic").secret,
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            receiver.endpoint().to_owned(),
        ),
        // The batch exporter's standard knob: export within 50 ms, not the default 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
        // As an operator debugging would set it: every library at its most verbose, the
        // model, Gateway (MCP), memory and signing calls of a real turn included.
        ("RUST_LOG", "trace".to_owned()),
    ];
    let agent = AgentProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_agent-runtime")),
        free_port().unwrap(),
        &env,
        &dir.join("agent.log"),
        None,
    )
    .await
    .unwrap();

    let sub = test_issuer::USER_SUB;
    let token = test_issuer::id_token("basic", "clinic-a");
    let session = tenant_context::SessionBinder::from_base64(common::SESSION_KEY_B64)
        .unwrap()
        .issue(&common::ctx("basic", "clinic-a", sub))
        .unwrap();
    let reply = reqwest::Client::new()
        .post(format!("{}/invocations", agent.url()))
        .header(contracts::headers::RUNTIME_ID_TOKEN, &token)
        .header(
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id",
            session.as_str(),
        )
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        // A caller trying to label its spans as another tenant's.
        .header("baggage", "tier=premium,clinic_id=clinic-b,actor_id=x")
        .json(&json!({ "prompt": PROMPT }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let answer = reply.text().await.unwrap();
    assert!(answer.contains("Patient of clinic-a"), "{answer}");

    let spans = spans_of_trace(&receiver, 6).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let model_id = common::catalog()
        .config(&common::catalog().tier("basic").unwrap())
        .unwrap()
        .model_id
        .clone();
    for want in [
        "invoke_agent",
        "guardrail.input",
        "guardrail.output",
        &format!("chat {model_id}"),
        "execute_tool current_time",
        "execute_tool patient_context",
        "execute_tool clinic_config",
    ] {
        assert!(names.contains(&want), "no `{want}` span in {names:?}");
    }
    let actor = format!("basic/clinic-a/{sub}");
    let hashed_session = session_log_id(&session).to_string();
    for span in &spans {
        let a = &span.attributes;
        assert_eq!(span.service, "tenantry-agent-basic");
        assert_eq!(a.get("tier").map(String::as_str), Some("basic"), "{span:?}");
        assert_eq!(
            a.get("clinic_id").map(String::as_str),
            Some("clinic-a"),
            "{span:?}"
        );
        assert_eq!(a.get("actor_id"), Some(&actor), "{span:?}");
        assert_eq!(a.get("session.id"), Some(&hashed_session), "{span:?}");
    }
    let chat = spans.iter().find(|s| s.name.starts_with("chat ")).unwrap();
    assert_eq!(chat.attributes.get("gen_ai.request.model"), Some(&model_id));
    assert!(
        chat.attributes
            .get("gen_ai.usage.input_tokens")
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|t| t > 0),
        "{chat:?}"
    );
    let tool = spans
        .iter()
        .find(|s| s.name == "execute_tool patient_context")
        .unwrap();
    assert_eq!(
        tool.attributes.get("gen_ai.tool.name").map(String::as_str),
        Some("patient_context")
    );

    // The process's own log at RUST_LOG=trace: the same secrets, and no signature either.
    let secrets = [
        PROMPT,
        "p-003",
        "Patient of clinic-a",
        "CANARY-clinic-a",
        token.as_str(),
        session.as_str(),
    ];
    let log = std::fs::read_to_string(dir.join("agent.log")).unwrap();
    assert!(log.contains("\"invocation\""), "the log was written: {log}");
    for secret in secrets.iter().chain(&["AWS4-HMAC-SHA256"]) {
        assert!(!log.contains(secret), "`{secret}` in the agent's trace log");
    }

    // What left the process: no prompt, no answer, no patient, no token, no raw session id.
    let exported: Vec<u8> = receiver.raw_bodies().concat();
    let exported = String::from_utf8_lossy(&exported);
    for secret in secrets {
        assert!(
            !exported.contains(secret),
            "`{secret}` was exported in a span"
        );
    }
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}
