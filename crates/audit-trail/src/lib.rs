//! The PHI access audit trail.
//!
//! Every access to patient data (the `patient_context` and `retrieve_clinic_documents` tools,
//! and memory recall that brings clinical facts back) is recorded once as an [`AuditEvent`] by
//! the component that decided it, allowed or denied. Events go to one CloudWatch Logs group,
//! one stream per clinic and UTC day (`clinic/<id>/<yyyy-mm-dd>`). CloudWatch Logs has no
//! operation that edits or deletes a single event, and the writers hold only CreateLogStream
//! and PutLogEvents: no deployed role can change or remove what was recorded (docs/SECURITY.md
//! gives the whole argument, and the denies that close the remaining ways).
//!
//! Reading is by clinic and time ([`AuditLog::read`]): the clinic always comes from the
//! caller's verified identity, and the page tokens handed to callers are sealed ([`PageSeal`]).

mod error;
mod event;
mod log;
mod page_token;
mod query;

pub use error::AuditError;
pub use event::{
    Access, AuditEvent, Decision, DeniedBy, Recorder, SCHEMA_VERSION, day_of, stream_prefix,
};
pub use log::{AuditLog, AuditPage, MAX_FETCHES};
pub use page_token::{MIN_KEY_BYTES, PageSeal};
pub use query::{AuditQuery, DEFAULT_DAYS, DEFAULT_LIMIT, MAX_DAYS, MAX_LIMIT, QUERY_PARAMETERS};

/// The audit log group (`/tenantry/audit` in the template). Required by every writer.
pub const ENV_AUDIT_LOG_GROUP: &str = "TENANTRY_AUDIT_LOG_GROUP";
