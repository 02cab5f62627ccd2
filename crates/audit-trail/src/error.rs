//! The crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// CloudWatch Logs refused or could not be reached (`operation`, the service's code).
    #[error("the audit trail is unavailable ({operation}: {code})")]
    Unavailable {
        operation: &'static str,
        code: String,
    },
    /// PutLogEvents answered 200 but kept the event out (too old, too new, or expired).
    #[error("the audit trail refused the event ({0})")]
    Rejected(&'static str),
    #[error("the audit event could not be encoded: {0}")]
    Encode(String),
    #[error("no randomness for the event id: {0}")]
    Random(String),
    /// A query parameter of `GET /audit` (or the CLI) is wrong; the message says which and why.
    #[error("{0}")]
    BadQuery(String),
    /// A page token that was not sealed here, or was altered.
    #[error("next_token is not valid")]
    PageTokenInvalid,
    /// A genuine page token of another clinic or of another query.
    #[error(
        "next_token belongs to another query: repeat the first request's filters, or start again without it"
    )]
    PageTokenOtherQuery,
    #[error("the audit page-token key must be at least {0} bytes")]
    KeyTooShort(usize),
}

impl AuditError {
    /// A stable code for replies and logs.
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::Unavailable { .. } => "audit_unavailable",
            AuditError::Rejected(_) => "audit_rejected",
            AuditError::Encode(_) => "audit_encode",
            AuditError::Random(_) => "audit_random",
            AuditError::BadQuery(_) => "bad_query",
            AuditError::PageTokenInvalid => "next_token_invalid",
            AuditError::PageTokenOtherQuery => "next_token_other_query",
            AuditError::KeyTooShort(_) => "audit_key_too_short",
        }
    }

    /// Whether the caller's request was at fault (a 4xx), not the trail.
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            AuditError::BadQuery(_)
                | AuditError::PageTokenInvalid
                | AuditError::PageTokenOtherQuery
        )
    }
}
