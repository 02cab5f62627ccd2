//! The agent's part of the PHI access audit trail, on the CloudWatch Logs stand-in (moto): a
//! memory recall that brings records back is recorded before the model reads them (and without
//! its record the model does not get them); a patient tool the Gateway's Cedar policy refused
//! is recorded as denied by `gateway_policy`.

mod common;

use audit_trail::{Access, AuditLog, AuditQuery, Decision, DeniedBy, Recorder};
use common::{
    FakeTarget, Upstreams, agent_with_memory, gateway, invoke, memory, memory_id, standard_with,
};
use emulators::memory::{MemoryEmulation, definitions};
use emulators::model::ModelStandin;
use serde_json::json;
use tenant_context::ClinicId;
use testkit::test_issuer;

async fn group() -> String {
    testkit::audit_group::create(&testkit::endpoints_or_panic(), "agent-audit")
        .await
        .expect("the log group on moto (scripts/standins.sh start)")
}

async fn events_of(group: &str, clinic: &str) -> Vec<audit_trail::AuditEvent> {
    let log = AuditLog::new(
        &testkit::sdk::moto_config(&testkit::endpoints_or_panic()),
        group.to_owned(),
    );
    let (query, _) = AuditQuery::parse(&[], chrono::Utc::now()).unwrap();
    log.read(&ClinicId::parse(clinic).unwrap(), &query, None)
        .await
        .unwrap()
        .events
}

/// Two sessions of one user on a basic agent with memory: the second recalls the first's
/// long-term record. With a trail, the recall is recorded (record ids, session hash, by the
/// agent); with a trail that cannot be written, the model never sees the record.
#[tokio::test]
async fn a_recall_is_recorded_before_the_model_reads_it_and_without_its_record_it_does_not() {
    for writable in [true, false] {
        let group = if writable {
            group().await
        } else {
            "/no/such/audit/group".to_owned()
        };
        let jwks = test_issuer::jwks_server().await;
        let target = FakeTarget::with_hour(10);
        let gw = gateway("basic", &target, &jwks).await;
        let model = ModelStandin::start(0).await.unwrap();
        let mem = MemoryEmulation::start(definitions(&common::catalog(), memory_id), 0)
            .await
            .unwrap();
        let stack = agent_with_memory(
            "basic",
            jwks,
            Upstreams::new(model.base_url(), gw.url()),
            &[("TENANTRY_AUDIT_LOG_GROUP", group.as_str())],
            Some(memory("basic", &mem.endpoint())),
        )
        .await;
        let ask = |prompt: &'static str| {
            let stack = &stack;
            async move {
                let (token, session) = common::caller(stack, "basic", "clinic-a");
                let reply = invoke(
                    stack,
                    Some(&token),
                    Some(session.as_str()),
                    json!({ "prompt": prompt }),
                    false,
                )
                .await;
                assert_eq!(reply.status, 200, "{}", reply.body);
            }
        };
        ask("Remember that I prefer brief summaries").await;
        ask("Do you know what I prefer?").await;
        let last =
            serde_json::Value::from(model.requests().last().unwrap().messages.clone()).to_string();
        if writable {
            assert!(last.contains("I prefer brief summaries"), "{last}");
            let recalls: Vec<_> = events_of(&group, "clinic-a")
                .await
                .into_iter()
                .filter(|e| e.access == Access::MemoryRecall)
                .collect();
            assert_eq!(recalls.len(), 1, "{recalls:#?}");
            let e = &recalls[0];
            assert_eq!(e.decision, Decision::Allowed);
            assert_eq!(e.recorded_by, Recorder::Agent);
            assert!(!e.memory_record_ids.is_empty(), "{e:?}");
            assert!(e.session.as_deref().is_some_and(|s| s.len() == 12), "{e:?}");
            assert!(e.patient_ids.is_empty());
        } else {
            assert!(!last.contains("I prefer brief summaries"), "{last}");
        }
    }
}

/// At 22:00 at the clinic, basic `patient_context` is refused by the Gateway's Cedar policy:
/// the tool target never sees the call, so the agent records it, with the patient asked for.
#[tokio::test]
async fn a_gateway_policy_denial_of_a_patient_tool_is_in_the_clinics_trail() {
    let group = group().await;
    let target = FakeTarget::with_hour(22);
    let (stack, _model, _gw) = standard_with(
        "basic",
        &target,
        &[("TENANTRY_AUDIT_LOG_GROUP", group.as_str())],
    )
    .await;
    let reply = common::answered(&stack, "basic", "clinic-a", "Show patient p-1001").await;
    assert!(
        !reply.json().to_string().contains("Avery"),
        "{}",
        reply.body
    );
    let denied: Vec<_> = events_of(&group, "clinic-a")
        .await
        .into_iter()
        .filter(|e| e.access == Access::PatientContext)
        .collect();
    assert_eq!(denied.len(), 1, "{denied:#?}");
    let e = &denied[0];
    assert!(
        matches!(
            &e.decision,
            Decision::Denied {
                denied_by: DeniedBy::GatewayPolicy,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.patient_ids, ["p-1001"]);
    assert_eq!(e.recorded_by, Recorder::Agent);
    assert!(
        target
            .calls()
            .iter()
            .all(|c| !c.client_context.tool_name.ends_with("patient_context")),
        "the tool target saw the call"
    );
}
