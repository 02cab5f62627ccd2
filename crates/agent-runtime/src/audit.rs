//! The agent's part of the PHI access audit trail (`audit_trail`): what only the agent sees.
//!
//! - A memory recall that brings long-term records back into a turn (they may hold clinical
//!   facts): recorded with the record ids before the model reads them. **Fails closed**: when
//!   the event cannot be written, the turn goes on without the records.
//! - A patient tool the Gateway's Cedar policies refused (the tool target never saw the call,
//!   so it cannot record it): recorded as denied by `gateway_policy`, with the patient id asked
//!   for. A failed write is logged; the refusal stands either way.
//!
//! Tool-target records every call that reaches it; the agent does not record those again.

use audit_trail::{Access, AuditEvent, AuditLog, Decision, DeniedBy, Recorder};
use serde_json::Value;
use tenant_context::{RuntimeSessionId, TenantContext, session_log_id};

use crate::tools::{ToolOutcome, ToolStatus};

/// Records that `record_ids` were recalled for `ctx`; `false` when the event could not be
/// written (the caller then drops the records).
pub async fn recalled(
    log: &AuditLog,
    ctx: &TenantContext,
    session: &RuntimeSessionId,
    record_ids: &[String],
) -> bool {
    let event = AuditEvent::new(
        ctx,
        Access::MemoryRecall,
        Decision::Allowed,
        Recorder::Agent,
        chrono::Utc::now(),
    )
    .map(|e| {
        e.with_session(Some(session_log_id(session).to_string()))
            .with_memory_records(record_ids.to_vec())
    });
    let written = match event {
        Ok(e) => log.record(&e).await,
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, clinic_id = %ctx.clinic_id(), "a memory recall could not be recorded in the audit trail; the turn goes on without the records");
            false
        }
    }
}

/// Whether `outcome` is the Gateway's policy refusing the call (not the tool target's own
/// refusal, which comes back as its JSON error with another code and is recorded there).
pub fn refused_by_gateway_policy(outcome: &ToolOutcome) -> bool {
    if outcome.status != ToolStatus::Denied {
        return false;
    }
    match serde_json::from_str::<Value>(&outcome.text) {
        // The agent's own wording of a JSON-RPC refusal (`"error": "denied_by_policy"`), or
        // a tool target error (`"error": {"code": ...}`).
        Ok(v) => match v["error"].as_str().or_else(|| v["error"]["code"].as_str()) {
            Some(code) => code == crate::tools::DENIED_BY_POLICY,
            None => true,
        },
        Err(_) => true,
    }
}

/// Records the Gateway's refusal of `tool` (when it reaches patient data) for `ctx`.
pub async fn gateway_denied(
    log: &AuditLog,
    ctx: &TenantContext,
    session: &RuntimeSessionId,
    tool: &str,
    arguments: &str,
) {
    let Some(access) = Access::of_tool(tool) else {
        return;
    };
    let asked: Vec<String> = serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| v["patient_id"].as_str().map(str::to_owned))
        .into_iter()
        .collect();
    let event = AuditEvent::new(
        ctx,
        access,
        Decision::Denied {
            denied_by: DeniedBy::GatewayPolicy,
            reason: crate::tools::DENIED_BY_POLICY.into(),
        },
        Recorder::Agent,
        chrono::Utc::now(),
    )
    .map(|e| {
        e.with_session(Some(session_log_id(session).to_string()))
            .with_patients(asked)
    });
    let written = match event {
        Ok(e) => log.record(&e).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::error!(error = %e, clinic_id = %ctx.clinic_id(), tool, "a Gateway policy denial could not be recorded in the audit trail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: ToolStatus, text: &str) -> ToolOutcome {
        ToolOutcome {
            status,
            text: text.into(),
        }
    }

    #[test]
    fn only_the_gateways_refusals_are_the_agents_to_record() {
        assert!(refused_by_gateway_policy(&outcome(
            ToolStatus::Denied,
            r#"{"error":"denied_by_policy","message":"x"}"#
        )));
        assert!(refused_by_gateway_policy(&outcome(
            ToolStatus::Denied,
            "Tool call denied by policy"
        )));
        // The tool target's own refusal: recorded by the tool target.
        assert!(!refused_by_gateway_policy(&outcome(
            ToolStatus::Denied,
            r#"{"error":{"code":"outside_business_hours","message":"denied"}}"#
        )));
        assert!(!refused_by_gateway_policy(&outcome(
            ToolStatus::Error,
            "{}"
        )));
        assert!(!refused_by_gateway_policy(&outcome(ToolStatus::Ok, "{}")));
    }
}
