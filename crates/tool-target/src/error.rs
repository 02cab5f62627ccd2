//! The tool target's one error type. Every refusal is a JSON reply the model can read,
//! `{"error": {"code", "message"}}`, with a stable code; never a stack trace, a token or
//! another tenant's data.

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("the invocation carries no AgentCore Gateway tool name")]
    MissingToolName,

    #[error("the tool name is not `<target>___<tool>`")]
    BadToolName,

    #[error("the client context is unusable: {0}")]
    BadClientContext(&'static str),

    #[error("unknown tool")]
    UnknownTool,

    #[error("invalid arguments: {0}")]
    InvalidArguments(String),

    #[error("no verified identity: {0}")]
    Unauthenticated(tenant_context::Error),

    #[error("tenant headers disagree with the verified token ({0})")]
    TenantHeaderMismatch(tenant_context::Error),

    #[error("this tool target serves another tier")]
    TargetTierMismatch,

    #[error("this tool target is not configured for any tier")]
    UnknownTarget,

    #[error("this tool is not part of your tier")]
    ToolNotInTier,

    #[error("your role may not use this tool")]
    ToolNotForRole,

    #[error("this clinic is not served (suspended or not onboarded)")]
    TenantNotServed,

    #[error(
        "outside business hours ({start:02}:00-{end:02}:00 clinic time) for this tool on your tier"
    )]
    OutsideBusinessHours { start: u8, end: u8 },

    #[error("request_hour does not match the clinic's current hour; the server clock decides")]
    RequestHourSpoofed,

    #[error("patient not found")]
    PatientNotFound,

    #[error("next_token is not valid")]
    NextTokenInvalid,

    #[error("next_token was issued for another clinic")]
    NextTokenOtherClinic,

    #[error("the clinic's configuration is missing or invalid ({0})")]
    ClinicMisconfigured(&'static str),

    #[error("a patient record is incomplete ({0})")]
    PatientRecordMalformed(&'static str),

    #[error("the caller's tier has no configuration in this deployment")]
    TierNotConfigured,

    #[error("document search is not configured for your tier")]
    DocumentsNotConfigured,

    #[error("web search is not configured for this deployment")]
    WebSearchNotConfigured,

    #[error("temporarily unavailable, try again")]
    Unavailable,

    #[error("the tool did not finish in time, try again")]
    DeadlineExceeded,
    /// Patient data is returned only once its access is recorded: the record could not be
    /// written, so nothing is returned.
    #[error(
        "the access could not be recorded in the audit trail, so nothing was returned; try again"
    )]
    AuditUnavailable,
}

impl ToolError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ToolError::MissingToolName => "missing_tool_name",
            ToolError::BadToolName => "bad_tool_name",
            ToolError::BadClientContext(_) => "bad_client_context",
            ToolError::UnknownTool => "unknown_tool",
            ToolError::InvalidArguments(_) => "invalid_arguments",
            ToolError::Unauthenticated(_) => "unauthenticated",
            ToolError::TenantHeaderMismatch(_) => "tenant_header_mismatch",
            ToolError::TargetTierMismatch => "target_tier_mismatch",
            ToolError::UnknownTarget => "unknown_target",
            ToolError::ToolNotInTier => "tool_not_in_tier",
            ToolError::ToolNotForRole => "tool_not_for_role",
            ToolError::TenantNotServed => "tenant_not_served",
            ToolError::OutsideBusinessHours { .. } => "outside_business_hours",
            ToolError::RequestHourSpoofed => "request_hour_spoofed",
            ToolError::PatientNotFound => "patient_not_found",
            ToolError::NextTokenInvalid => "next_token_invalid",
            ToolError::NextTokenOtherClinic => "next_token_other_clinic",
            ToolError::DocumentsNotConfigured => "documents_not_configured",
            ToolError::WebSearchNotConfigured => "web_search_not_configured",
            ToolError::ClinicMisconfigured(_) => "clinic_misconfigured",
            ToolError::PatientRecordMalformed(_) => "patient_record_malformed",
            ToolError::TierNotConfigured => "tier_not_configured",
            ToolError::Unavailable => "unavailable",
            ToolError::DeadlineExceeded => "deadline_exceeded",
            ToolError::AuditUnavailable => "audit_unavailable",
        }
    }

    /// The reply body.
    pub fn to_reply(&self) -> Value {
        json!({ "error": { "code": self.code(), "message": self.to_string() } })
    }
}
