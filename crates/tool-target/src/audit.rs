//! The audit record of each call to a patient-data tool (`patient_context`,
//! `retrieve_clinic_documents`), written once the decision is made, allowed or denied.
//!
//! Fails closed: an allowed call's data is returned only once CloudWatch Logs has accepted its
//! event; if the write fails the caller gets `audit_unavailable` and no data. Nothing is queued:
//! Lambda may freeze the environment as soon as the call answers, so a queued event could be
//! lost without anyone knowing. A refusal is returned whether or not its record could be
//! written (refusing it harder protects nothing); a failed write is logged as an error.
//!
//! A call whose caller's identity could not be verified names no clinic: it is logged as a
//! security event where it was refused, and not recorded in any clinic's trail.

use audit_trail::{Access, AuditEvent, AuditLog, Decision, DeniedBy, Recorder};
use serde_json::Value;

use crate::error::ToolError;
use crate::handler::Verified;
use crate::runtime::Invocation;

/// `result` as the caller gets it, once recorded (see the module's documentation).
pub async fn record(
    inv: &Invocation,
    log: &AuditLog,
    caller: Option<&Verified>,
    result: Result<Value, ToolError>,
) -> Result<Value, ToolError> {
    let Some(Verified {
        tenant,
        tool,
        session,
    }) = caller
    else {
        return result;
    };
    let Some(access) = Access::of_tool(tool) else {
        return result;
    };
    let decision = match &result {
        Ok(_) => Decision::Allowed,
        Err(e) => decision_of(e),
    };
    let event = AuditEvent::new(
        tenant,
        access,
        decision,
        Recorder::ToolTarget,
        chrono::Utc::now(),
    )
    .map(|e| e.with_session(session.clone()))
    .map(|e| match &result {
        Ok(reply) => e
            .with_patients(returned_patients(reply))
            .with_documents(returned_documents(reply)),
        // What was asked for: the trail answers "who tried to see this patient" too.
        Err(_) => e.with_patients(requested_patient(&inv.payload)),
    });
    let written = match event {
        Ok(event) => log.record(&event).await,
        Err(e) => Err(e),
    };
    match (written, result) {
        (Ok(()), result) => result,
        (Err(e), Ok(_)) => {
            tracing::error!(
                request_id = %inv.request_id,
                code = e.code(),
                error = %e,
                tier = %tenant.tier(),
                clinic_id = %tenant.clinic_id(),
                tool = access.as_str(),
                "audit write failed; the data was not returned"
            );
            Err(ToolError::AuditUnavailable)
        }
        (Err(e), Err(refused)) => {
            tracing::error!(
                request_id = %inv.request_id,
                code = e.code(),
                error = %e,
                refusal = refused.code(),
                tier = %tenant.tier(),
                clinic_id = %tenant.clinic_id(),
                tool = access.as_str(),
                "audit write failed for a refused call"
            );
            Err(refused)
        }
    }
}

/// Which layer refused, or why nothing came back.
pub fn decision_of(e: &ToolError) -> Decision {
    let denied = |denied_by| Decision::Denied {
        denied_by,
        reason: e.code().to_owned(),
    };
    match e {
        ToolError::ToolNotForRole => denied(DeniedBy::Role),
        ToolError::OutsideBusinessHours { .. } | ToolError::RequestHourSpoofed => {
            denied(DeniedBy::BusinessHours)
        }
        // Allowed, but no patient data was reached.
        ToolError::PatientNotFound
        | ToolError::PatientRecordMalformed(_)
        | ToolError::ClinicMisconfigured(_)
        | ToolError::TierNotConfigured
        | ToolError::DocumentsNotConfigured
        | ToolError::WebSearchNotConfigured
        | ToolError::Unavailable
        | ToolError::DeadlineExceeded
        | ToolError::AuditUnavailable => Decision::Failed {
            reason: e.code().to_owned(),
        },
        ToolError::MissingToolName
        | ToolError::BadToolName
        | ToolError::BadClientContext(_)
        | ToolError::UnknownTool
        | ToolError::InvalidArguments(_)
        | ToolError::Unauthenticated(_)
        | ToolError::TenantHeaderMismatch(_)
        | ToolError::TargetTierMismatch
        | ToolError::UnknownTarget
        | ToolError::ToolNotInTier
        | ToolError::TenantNotServed
        | ToolError::NextTokenInvalid
        | ToolError::NextTokenOtherClinic => denied(DeniedBy::ToolTarget),
    }
}

/// The patient ids in a `patient_context` reply (one patient, or a page).
fn returned_patients(reply: &Value) -> Vec<String> {
    let one = reply.pointer("/patient/patient_id").and_then(Value::as_str);
    let page = reply
        .get("patients")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("patient_id").and_then(Value::as_str));
    one.into_iter().chain(page).map(str::to_owned).collect()
}

/// The document sources in a `retrieve_clinic_documents` reply.
fn returned_documents(reply: &Value) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let sources = reply
        .get("documents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("source").and_then(Value::as_str));
    for s in sources {
        if !ids.iter().any(|i| i == s) {
            ids.push(s.to_owned());
        }
    }
    ids
}

/// The `patient_id` argument of a refused call, if it had one (as given: the event stores it
/// as a JSON string, so no value can pass for another field).
fn requested_patient(payload: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("patient_id")?.as_str().map(str::to_owned))
        .map(|id| id.chars().take(crate::tools::MAX_STRING_ARG).collect())
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_refusal_is_attributed_to_its_layer() {
        let by = |e: ToolError| match decision_of(&e) {
            Decision::Denied { denied_by, reason } => Some((denied_by, reason)),
            _ => None,
        };
        assert_eq!(
            by(ToolError::ToolNotForRole),
            Some((DeniedBy::Role, "tool_not_for_role".into()))
        );
        assert_eq!(
            by(ToolError::OutsideBusinessHours { start: 8, end: 18 }).map(|d| d.0),
            Some(DeniedBy::BusinessHours)
        );
        assert_eq!(
            by(ToolError::RequestHourSpoofed).map(|d| d.0),
            Some(DeniedBy::BusinessHours)
        );
        assert_eq!(
            by(ToolError::TargetTierMismatch).map(|d| d.0),
            Some(DeniedBy::ToolTarget)
        );
        assert_eq!(by(ToolError::PatientNotFound), None);
    }

    #[test]
    fn the_ids_are_the_ones_returned_or_asked_for() {
        let one = json!({"patient": {"patient_id": "p-1001", "name": "x"}});
        assert_eq!(returned_patients(&one), vec!["p-1001"]);
        let page = json!({"patients": [{"patient_id": "p-1"}, {"patient_id": "p-2"}]});
        assert_eq!(returned_patients(&page), vec!["p-1", "p-2"]);
        let docs = json!({"documents": [{"source": "s3://b/clinic-a/a.md"}, {"source": "s3://b/clinic-a/a.md"}]});
        assert_eq!(returned_documents(&docs), vec!["s3://b/clinic-a/a.md"]);
        assert_eq!(
            requested_patient(br#"{"patient_id": "p-9\"}"}"#),
            vec!["p-9\"}"]
        );
        assert!(requested_patient(b"not json").is_empty());
    }
}
