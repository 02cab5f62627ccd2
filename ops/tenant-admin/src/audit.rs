//! `tenant-admin audit`: the provider's read of one clinic's PHI access audit trail, with the
//! same filters as a clinic admin's `GET /audit` and the same reader (every event re-checked to
//! name the clinic), all pages at once up to a limit.

use audit_trail::{AuditEvent, AuditLog, AuditQuery, Decision};
use tenant_context::ClinicId;

use crate::AdminError;

/// The filters, as `GET /audit` names them (`patient`, `user`, `from`, `to`).
#[derive(Debug, Default, Clone)]
pub struct AuditFilters {
    pub patient: Option<String>,
    pub user: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// `clinic`'s events matching `filters`, oldest first, at most `max` (pages are followed).
pub async fn read_trail(
    log: &AuditLog,
    clinic: &ClinicId,
    filters: &AuditFilters,
    max: usize,
) -> Result<Vec<AuditEvent>, AdminError> {
    let params: Vec<(String, String)> = [
        ("patient", &filters.patient),
        ("user", &filters.user),
        ("from", &filters.from),
        ("to", &filters.to),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), v.clone())))
    .collect();
    let (query, _) = AuditQuery::parse(&params, chrono::Utc::now())
        .map_err(|e| AdminError::Conflict(format!("audit: {e}")))?;
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = log
            .read(clinic, &query, after)
            .await
            .map_err(|e| AdminError::Aws {
                op: "FilterLogEvents (the audit trail)",
                source: Box::new(e),
            })?;
        events.extend(page.events);
        match page.next {
            Some(next) if events.len() < max => after = Some(next),
            _ => break,
        }
    }
    events.truncate(max);
    Ok(events)
}

/// A value's name as stored (`patient_context`, `business_hours`).
fn stored_name(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One event as a line of the provider's listing (identifiers only, as stored).
pub fn line(e: &AuditEvent) -> String {
    let decision = match &e.decision {
        Decision::Allowed => "allowed".to_owned(),
        Decision::Denied { denied_by, reason } => {
            format!("denied by {} ({reason})", stored_name(denied_by))
        }
        Decision::Failed { reason } => format!("failed ({reason})"),
    };
    let mut parts = vec![
        e.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        stored_name(&e.access),
        decision,
        format!("user={} role={}", e.user, e.role),
    ];
    if !e.patient_ids.is_empty() {
        parts.push(format!("patients={}", e.patient_ids.join(",")));
    }
    if !e.document_ids.is_empty() {
        parts.push(format!("documents={}", e.document_ids.join(",")));
    }
    if !e.memory_record_ids.is_empty() {
        parts.push(format!("memory_records={}", e.memory_record_ids.join(",")));
    }
    if let Some(s) = &e.session {
        parts.push(format!("session={s}"));
    }
    parts.join("  ")
}
