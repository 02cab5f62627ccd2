//! `GET /audit?patient=&user=&from=&to=&limit=&next_token=`: the caller's own clinic's PHI
//! access audit trail, for roles the tier file lets read it (`reads_audit`, the clinic admin).
//! The clinic is the authorizer's, never a parameter (`clinic=` is refused by name); page tokens
//! are sealed to the clinic and the query (`audit_trail::PageSeal`).

use std::sync::Arc;

use audit_trail::{AuditError, AuditEvent, AuditLog, AuditQuery, PageSeal};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tenant_context::TenantContext;

use crate::caller::{Caller, Refusal};
use crate::deps::Deps;
use crate::error::ProxyError;

/// The trail and the seal of its page tokens.
pub struct AuditReader {
    pub log: AuditLog,
    pub seal: PageSeal,
}

#[derive(Debug, Serialize)]
pub struct AuditReply {
    pub clinic_id: String,
    /// The range searched (RFC 3339, UTC).
    pub from: String,
    pub to: String,
    /// Oldest first.
    pub events: Vec<AuditEvent>,
    /// To go on: send it back with the same `patient` and `user`. `null` at the end.
    pub next_token: Option<String>,
}

pub async fn serve(
    State(deps): State<Arc<Deps>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Response {
    let tenant = &caller.tenant;
    match build(
        &deps,
        tenant,
        raw.as_deref().unwrap_or(""),
        chrono::Utc::now(),
    )
    .await
    {
        Ok(r) => ([(header::CACHE_CONTROL, "no-store")], Json(r)).into_response(),
        Err(e) => Refusal::of(tenant)(e).into_response(),
    }
}

/// The reply for `tenant`: its clinic's events only, whatever `raw_query` says.
pub async fn build(
    deps: &Deps,
    tenant: &TenantContext,
    raw_query: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AuditReply, ProxyError> {
    if !deps.catalog.role_reads_audit(tenant.role()) {
        return Err(ProxyError::AuditNotForRole);
    }
    let reader = deps.audit.as_ref().ok_or(ProxyError::AuditNotConfigured)?;
    let params: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let (query, token) = AuditQuery::parse(&params, now).map_err(refused)?;
    let clinic = tenant.clinic_id();
    let (after, query) = match token {
        Some(t) => {
            let (next, q) = reader.seal.open(&t, clinic, &query).map_err(|e| {
                if e.code() == "next_token_other_query" {
                    tracing::warn!(
                        security_event = "audit_token_other_query",
                        clinic_id = %clinic,
                        "an audit page token of another clinic or query"
                    );
                }
                refused(e)
            })?;
            (Some(next), q)
        }
        None => (None, query),
    };
    let page = reader
        .log
        .read(clinic, &query, after)
        .await
        .map_err(refused)?;
    if page.skipped > 0 {
        tracing::warn!(
            clinic_id = %clinic,
            skipped = page.skipped,
            "events in the clinic's audit streams that are not its audit events were left out"
        );
    }
    Ok(AuditReply {
        clinic_id: clinic.to_string(),
        from: rfc3339(query.from),
        to: rfc3339(query.to),
        events: page.events,
        next_token: page.next.map(|n| reader.seal.seal(clinic, &query, &n)),
    })
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn refused(e: AuditError) -> ProxyError {
    if e.is_caller_error() {
        ProxyError::AuditQuery {
            code: e.code(),
            message: e.to_string(),
        }
    } else {
        tracing::warn!(code = e.code(), error = %e, "audit trail read failed");
        ProxyError::AuditUnavailable
    }
}
