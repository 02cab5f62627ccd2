//! `tenant-admin audit` on the CloudWatch Logs stand-in (moto): one clinic's events only, by
//! patient, all pages up to the limit.

use audit_trail::AuditLog;
use tenant_admin::audit::{AuditFilters, line, read_trail};
use tenant_context::ClinicId;

#[tokio::test]
async fn the_provider_reads_one_clinics_trail_by_patient_across_pages() {
    let endpoints = testkit::endpoints_or_panic();
    let group = testkit::audit_group::create(&endpoints, "admin-audit")
        .await
        .expect("the log group on moto (scripts/standins.sh start)");
    testkit::audit_group::record_reads(
        &endpoints,
        &group,
        &[
            ("clinic-a", "p-1001"),
            ("clinic-a", "p-1002"),
            ("clinic-b", "p-1001"),
            ("clinic-a", "p-1001"),
        ],
    )
    .await
    .unwrap();
    let log = AuditLog::new(&testkit::sdk::moto_config(&endpoints), group);
    let a = ClinicId::parse("clinic-a").unwrap();
    let filters = AuditFilters {
        patient: Some("p-1001".into()),
        ..Default::default()
    };
    let events = read_trail(&log, &a, &filters, 100).await.unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events.iter().all(|e| e.clinic_id == "clinic-a"));
    assert!(
        line(&events[0]).contains("patients=p-1001"),
        "{}",
        line(&events[0])
    );
    let all = read_trail(&log, &a, &AuditFilters::default(), 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        read_trail(&log, &a, &AuditFilters::default(), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    // A filter AuditQuery refuses is refused here too.
    let bad = AuditFilters {
        from: Some("yesterday".into()),
        ..Default::default()
    };
    assert!(read_trail(&log, &a, &bad, 10).await.is_err());
}
