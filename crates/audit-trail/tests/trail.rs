//! The trail on the CloudWatch Logs stand-in (moto): what is written reads back by clinic, time,
//! patient and user; another clinic's events never come back (moto ignores
//! `logStreamNamePrefix`, so here the reader's own clinic check is what keeps them out: a
//! test of that check, not of the prefix); pages continue; a retried event is read once.

use audit_trail::{
    Access, AuditEvent, AuditLog, AuditQuery, Decision, DeniedBy, PageSeal, Recorder,
};
use chrono::{DateTime, Duration, Utc};
use tenant_context::{ClinicId, TenantContext, TierCatalog};

fn tenant(clinic: &str, user: &str, role: &str) -> TenantContext {
    let catalog = TierCatalog::embedded().unwrap();
    TenantContext::parse(&catalog, "basic", clinic, user, role).unwrap()
}

fn at(minute: i64) -> DateTime<Utc> {
    // Within CloudWatch Logs' accepted window (14 days back), on one UTC day.
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 30, 0)
        .unwrap()
        .and_utc();
    today + Duration::minutes(minute)
}

fn patient_read(t: &TenantContext, minute: i64, patient: &str) -> AuditEvent {
    AuditEvent::new(
        t,
        Access::PatientContext,
        Decision::Allowed,
        Recorder::ToolTarget,
        at(minute),
    )
    .unwrap()
    .with_patients(vec![patient.to_owned()])
}

fn query(patient: Option<&str>, user: Option<&str>, limit: u32) -> AuditQuery {
    AuditQuery {
        patient: patient.map(str::to_owned),
        user: user.map(str::to_owned),
        from: at(0) - Duration::minutes(1),
        to: at(600),
        limit,
    }
}

async fn trail() -> AuditLog {
    let endpoints = testkit::endpoints_or_panic();
    let group = testkit::audit_group::create(&endpoints, "audit-test")
        .await
        .unwrap();
    AuditLog::new(&testkit::sdk::moto_config(&endpoints), group)
}

#[tokio::test]
async fn a_clinic_reads_its_own_events_by_patient_and_user_and_never_another_clinics() {
    let log = trail().await;
    let a1 = tenant("clinic-a", "u-a1", "clinician");
    let a2 = tenant("clinic-a", "u-a2", "nurse");
    let b = tenant("clinic-b", "u-b1", "clinician");
    let denied = AuditEvent::new(
        &a2,
        Access::PatientContext,
        Decision::Denied {
            denied_by: DeniedBy::BusinessHours,
            reason: "outside_business_hours".into(),
        },
        Recorder::ToolTarget,
        at(3),
    )
    .unwrap()
    .with_patients(vec!["p-1001".into()]);
    for e in [
        patient_read(&a1, 1, "p-1001"),
        patient_read(&a1, 2, "p-1002"),
        denied.clone(),
        patient_read(&b, 4, "p-1001"),
    ] {
        log.record(&e).await.unwrap();
    }
    let clinic_a = ClinicId::parse("clinic-a").unwrap();
    let all = log
        .read(&clinic_a, &query(None, None, 50), None)
        .await
        .unwrap();
    assert_eq!(all.events.len(), 3, "{:?}", all.events);
    assert!(all.events.iter().all(|e| e.clinic_id == "clinic-a"));
    // moto returns clinic-b's event too: the reader left it out, and counted it.
    assert!(all.skipped >= 1);
    let p = log
        .read(&clinic_a, &query(Some("p-1001"), None, 50), None)
        .await
        .unwrap();
    assert_eq!(p.events.len(), 2);
    assert!(p.events.contains(&denied));
    let u = log
        .read(&clinic_a, &query(None, Some("u-a2"), 50), None)
        .await
        .unwrap();
    assert_eq!(u.events, vec![denied]);
    let clinic_b = ClinicId::parse("clinic-b").unwrap();
    let b_sees = log
        .read(&clinic_b, &query(None, None, 50), None)
        .await
        .unwrap();
    assert_eq!(b_sees.events.len(), 1);
    assert_eq!(b_sees.events[0].user, "u-b1");
}

#[tokio::test]
async fn pages_continue_under_a_sealed_token_and_a_repeated_event_is_read_once() {
    let log = trail().await;
    let a = tenant("clinic-a", "u-a1", "clinician");
    let first = patient_read(&a, 1, "p-1001");
    // A retried write stores the same event twice.
    log.record(&first).await.unwrap();
    log.record(&first).await.unwrap();
    for minute in 2..=7 {
        log.record(&patient_read(&a, minute, "p-1002"))
            .await
            .unwrap();
    }
    let clinic = ClinicId::parse("clinic-a").unwrap();
    let seal = PageSeal::ephemeral().unwrap();
    let q = query(None, None, 3);
    let mut token: Option<String> = None;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (after, q) = match &token {
            Some(t) => {
                let (next, q) = seal.open(t, &clinic, &q).unwrap();
                (Some(next), q)
            }
            None => (None, q.clone()),
        };
        let page = log.read(&clinic, &q, after).await.unwrap();
        assert!(
            page.events.len() < 6,
            "a page holds fewer than twice the limit"
        );
        ids.extend(page.events.iter().map(|e| e.event_id.clone()));
        token = page.next.map(|n| seal.seal(&clinic, &q, &n));
        if token.is_none() {
            break;
        }
    }
    assert!(token.is_none(), "the pages end");
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    // Seven events; the repeat of the first may land on another page than the first (then it
    // is read twice: readers dedupe within a page), never more.
    assert_eq!(unique.len(), 7);
    assert!(ids.len() <= 8, "{ids:?}");
}

#[tokio::test]
async fn an_unreachable_trail_is_an_error_not_a_silent_drop() {
    let log = AuditLog::new(&testkit::sdk::config_for("http://127.0.0.1:9"), "/nowhere");
    let a = tenant("clinic-a", "u-a1", "clinician");
    let e = log.record(&patient_read(&a, 1, "p-1")).await.unwrap_err();
    assert_eq!(e.code(), "audit_unavailable");
}
