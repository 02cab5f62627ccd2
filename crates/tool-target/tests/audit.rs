//! The audit trail as tool-target writes it, read back from the CloudWatch Logs stand-in:
//! every patient-data call once, allowed or denied and by which layer; nothing for tools that
//! reach no patient data; a forged "event" in an argument stays a string of one event; and no
//! data without its record (the trail unreachable: `audit_unavailable`, nothing returned).

mod support;

use audit_trail::{AuditEvent, AuditLog, AuditQuery, Decision, DeniedBy};
use chrono::{Duration, Utc};
use serde_json::json;
use support::world::*;
use tenant_context::ClinicId;
use testkit::test_issuer;
use tool_target::handler::handle;

async fn trail(w: &World, clinic: &str) -> Vec<AuditEvent> {
    let log = AuditLog::new(
        &testkit::sdk::moto_config(&endpoints()),
        w.audit_group.clone(),
    );
    let query = AuditQuery {
        patient: None,
        user: None,
        from: Utc::now() - Duration::hours(1),
        to: Utc::now() + Duration::hours(1),
        limit: 200,
    };
    log.read(&ClinicId::parse(clinic).unwrap(), &query, None)
        .await
        .unwrap()
        .events
}

#[tokio::test]
async fn every_patient_data_call_is_recorded_once_with_its_decision() {
    let w = world("audit", 15).await; // in clinic-a's business hours
    let one = w
        .basic("patient_context", json!({"patient_id": "p-1001"}))
        .await;
    assert_eq!(one["patient"]["patient_id"], "p-1001", "{one}");
    let page = w.basic("patient_context", json!({"limit": 2})).await;
    assert_eq!(patient_ids(&page).len(), 2);
    let missing = w
        .basic("patient_context", json!({"patient_id": "p-nope"}))
        .await;
    assert_eq!(code(&missing), "patient_not_found");
    let docs = w
        .basic(
            "retrieve_clinic_documents",
            json!({"query": "lab results HbA1c"}),
        )
        .await;
    assert!(docs.get("error").is_none(), "{docs}");
    // Tools that reach no patient data leave no event.
    w.basic("clinic_config", json!({})).await;
    w.basic("current_time", json!({})).await;
    // A role that may not read patients: denied by the role, with the patient asked for.
    let mut admin = test_issuer::id_claims();
    admin["custom:role"] = "admin".into();
    let mut h = headers("basic", "clinic-a");
    h["X-Id-Token"] = test_issuer::sign(&admin).into();
    let refused = w
        .call(
            &format!("{BASIC_TARGET}___patient_context"),
            &h,
            json!({"patient_id": "p-1002"}),
        )
        .await;
    assert_eq!(code(&refused), "tool_not_for_role");

    let events = trail(&w, "clinic-a").await;
    assert_eq!(events.len(), 5, "{events:#?}");
    let by_patient = |id: &str| {
        events
            .iter()
            .filter(|e| e.patient_ids.iter().any(|p| p == id))
            .collect::<Vec<_>>()
    };
    assert_eq!(by_patient("p-1001").len(), 2, "the read and the page");
    let p2 = by_patient("p-1002");
    assert!(p2.iter().any(|e| e.decision == Decision::Allowed));
    assert!(p2.iter().any(|e| e.decision
        == Decision::Denied {
            denied_by: DeniedBy::Role,
            reason: "tool_not_for_role".into()
        }
        && e.role == "admin"));
    assert!(by_patient("p-nope").iter().all(|e| matches!(
        &e.decision,
        Decision::Failed { reason } if reason == "patient_not_found"
    )));
    let doc = events
        .iter()
        .find(|e| e.access == audit_trail::Access::RetrieveClinicDocuments)
        .expect("a documents event");
    assert!(!doc.document_ids.is_empty());
    for e in &events {
        assert_eq!(
            (e.tier.as_str(), e.clinic_id.as_str()),
            ("basic", "clinic-a")
        );
        assert_eq!(e.user, test_issuer::USER_SUB);
    }
    // Nothing of clinic-a's calls is in another clinic's trail.
    assert!(trail(&w, "clinic-b").await.is_empty());
}

#[tokio::test]
async fn business_hours_refusals_are_recorded_as_such() {
    let w = world("audit-hours", 3).await; // 22:30 in New York
    let r = w
        .basic("patient_context", json!({"patient_id": "p-1001"}))
        .await;
    assert_eq!(code(&r), "outside_business_hours");
    let events = trail(&w, "clinic-a").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].decision,
        Decision::Denied {
            denied_by: DeniedBy::BusinessHours,
            reason: "outside_business_hours".into()
        }
    );
    assert_eq!(events[0].patient_ids, vec!["p-1001"]);
}

#[tokio::test]
async fn a_forged_event_in_an_argument_stays_one_string_of_one_event() {
    let w = world("audit-forge", 15).await;
    let forged = "p-1001\"}\n{\"v\":1,\"clinic_id\":\"clinic-b\",\"decision\":\"allowed\",\"patient_ids\":[\"p-2001\"]}";
    let r = w
        .basic("patient_context", json!({"patient_id": forged}))
        .await;
    assert_eq!(code(&r), "patient_not_found");
    let events = trail(&w, "clinic-a").await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].patient_ids, vec![forged.to_owned()]);
    assert_eq!(events[0].clinic_id, "clinic-a");
    assert!(trail(&w, "clinic-b").await.is_empty());
}

#[tokio::test]
async fn the_agents_session_hash_is_recorded_and_nothing_else_in_its_place() {
    let w = world("audit-session", 15).await;
    let patient = format!("{BASIC_TARGET}___patient_context");
    let with_session = |hash: &str| {
        let mut h = headers("basic", "clinic-a");
        h["X-Session-Hash"] = hash.into();
        h
    };
    let r = w
        .call(
            &patient,
            &with_session("0a1b2c3d4e5f"),
            json!({"patient_id": "p-1001"}),
        )
        .await;
    assert_eq!(r["patient"]["patient_id"], "p-1001", "{r}");
    // Not a session's short hash (a raw session id, text for a log reader): refused, and its
    // record names no session.
    for forged in [
        "tour-session-0000000000000000000000000001",
        "0a1b2c3d4e5f\nuser=x",
    ] {
        let r = w
            .call(
                &patient,
                &with_session(forged),
                json!({"patient_id": "p-1002"}),
            )
            .await;
        assert_eq!(code(&r), "bad_client_context", "{r}");
    }
    // A caller that passes none is recorded without one.
    w.basic("patient_context", json!({"patient_id": "p-1003"}))
        .await;

    let events = trail(&w, "clinic-a").await;
    assert_eq!(events.len(), 4, "{events:#?}");
    let session_of = |patient: &str| -> Vec<Option<&str>> {
        events
            .iter()
            .filter(|e| e.patient_ids.iter().any(|p| p == patient))
            .map(|e| e.session.as_deref())
            .collect()
    };
    assert_eq!(session_of("p-1001"), vec![Some("0a1b2c3d4e5f")]);
    assert_eq!(session_of("p-1002"), vec![None, None]);
    assert_eq!(session_of("p-1003"), vec![None]);
}

#[tokio::test]
async fn no_patient_data_leaves_without_its_record() {
    // The same deployment, its audit trail unreachable.
    let w = world_with_audit(
        "audit-down",
        15,
        Some(AuditLog::new(
            &testkit::sdk::config_for("http://127.0.0.1:9"),
            "/down",
        )),
    )
    .await;
    let deps = w.deps.clone();
    let reply = handle(
        invocation(
            &format!("{BASIC_TARGET}___patient_context"),
            &headers("basic", "clinic-a"),
            &json!({"patient_id": "p-1001"}),
        ),
        deps.clone(),
    )
    .await;
    assert_eq!(code(&reply), "audit_unavailable", "{reply}");
    assert!(!reply.to_string().contains("Avery"), "{reply}");
    // Tools that reach no patient data are not held up by it.
    let cfg = handle(
        invocation(
            &format!("{BASIC_TARGET}___clinic_config"),
            &headers("basic", "clinic-a"),
            &json!({}),
        ),
        deps,
    )
    .await;
    assert_eq!(cfg["clinic"]["clinic_id"], "clinic-a", "{cfg}");
}
