//! The audit trail's log group on the CloudWatch Logs stand-in (moto).

use crate::{Endpoints, Error};

/// Creates `/<prefix>/<unique>/audit` on moto; returns its name.
pub async fn create(endpoints: &Endpoints, prefix: &str) -> Result<String, Error> {
    let group = format!("/{prefix}/{}/audit", crate::dynamo::unique_suffix());
    aws_sdk_cloudwatchlogs::Client::new(&crate::sdk::moto_config(endpoints))
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .map_err(Error::call("CreateLogGroup"))?;
    Ok(group)
}

/// Records one allowed `patient_context` read per (clinic, patient), a minute apart ending ten
/// minutes before now, as tool-target would for a basic clinician: a trail to read back.
pub async fn record_reads(
    endpoints: &Endpoints,
    group: &str,
    reads: &[(&str, &str)],
) -> Result<(), Error> {
    use audit_trail::{Access, AuditEvent, AuditLog, Decision, Recorder};
    let log = AuditLog::new(&crate::sdk::moto_config(endpoints), group.to_owned());
    let catalog = tenant_context::TierCatalog::embedded()?;
    let now = chrono::Utc::now();
    for (i, (clinic, patient)) in reads.iter().enumerate() {
        let tenant =
            tenant_context::TenantContext::parse(&catalog, "basic", clinic, "u-1", "clinician")?;
        let event = AuditEvent::new(
            &tenant,
            Access::PatientContext,
            Decision::Allowed,
            Recorder::ToolTarget,
            now - chrono::Duration::minutes(10 - i as i64),
        )
        .map_err(Error::call("AuditEvent"))?
        .with_patients(vec![(*patient).to_owned()]);
        log.record(&event)
            .await
            .map_err(Error::call("PutLogEvents"))?;
    }
    Ok(())
}
