//! Errors as HTTP answers: a status and `{"error": {"code", "message"}}`. 5xx bodies are
//! opaque: what went wrong upstream is logged, not returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no tenant context from the authorizer")]
    NoTenant(#[source] tenant_context::Error),
    #[error("missing Bearer token")]
    NoToken,
    #[error("the Bearer token is not the one the authorizer verified (send exactly one)")]
    TokenMismatch,
    #[error("the body must be JSON {{\"prompt\": string, \"session_id\"?: string}}: {0}")]
    BadBody(String),
    #[error("the prompt is larger than {max} bytes")]
    PromptTooLarge { max: usize },
    #[error("invalid session_id: {0}")]
    BadSessionId(tenant_context::Error),
    #[error("the session id was not issued to this user")]
    SessionNotOwned,
    #[error("the conversation has expired: start a new one (send no session_id)")]
    SessionExpired,
    #[error("the agent runtime rejected the credentials")]
    RuntimeUnauthorized,
    #[error("the agent runtime refused the request")]
    RuntimeForbidden,
    #[error("too many requests to the agent runtime; retry later")]
    RuntimeThrottled { retry_after: Option<String> },
    /// The clinic's token budget is used up (the agent's refusal): not the usage plan's 429.
    #[error("your clinic's token budget is used up; it starts again at {resets_at}")]
    BudgetExhausted {
        resets_at: String,
        retry_after: Option<String>,
    },
    #[error("the agent runtime failed")]
    RuntimeFailed,
    #[error("the agent runtime did not answer in time")]
    RuntimeTimeout,
    #[error("the agent runtime's answer is larger than the proxy passes on")]
    ResponseTooLarge,
    #[error("not found")]
    NotFound,
    #[error("only POST /invoke, GET /usage and GET /audit are served")]
    MethodNotAllowed,
    #[error("your role may not read the clinic's audit trail (clinic admins only)")]
    AuditNotForRole,
    /// A bad parameter or page token of `GET /audit`; the message says which and why.
    #[error("{message}")]
    AuditQuery { code: &'static str, message: String },
    #[error("this deployment keeps no audit trail reader")]
    AuditNotConfigured,
    #[error("the audit trail could not be read; retry shortly")]
    AuditUnavailable,
    #[error("this deployment keeps no usage counters")]
    UsageNotConfigured,
    #[error("the usage counters could not be read; retry shortly")]
    UsageUnavailable,
    #[error("this deployment has no agent runtime for the caller's tier")]
    NoRuntimeForTier,
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoToken | ProxyError::TokenMismatch | ProxyError::RuntimeUnauthorized => {
                StatusCode::UNAUTHORIZED
            }
            ProxyError::NoTenant(_)
            | ProxyError::RuntimeForbidden
            | ProxyError::SessionNotOwned
            | ProxyError::SessionExpired => StatusCode::FORBIDDEN,
            ProxyError::BadBody(_)
            | ProxyError::BadSessionId(_)
            | ProxyError::AuditQuery { .. } => StatusCode::BAD_REQUEST,
            ProxyError::AuditNotForRole => StatusCode::FORBIDDEN,
            ProxyError::AuditNotConfigured => StatusCode::NOT_IMPLEMENTED,
            ProxyError::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::PromptTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::RuntimeThrottled { .. } | ProxyError::BudgetExhausted { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ProxyError::RuntimeFailed | ProxyError::ResponseTooLarge => StatusCode::BAD_GATEWAY,
            ProxyError::RuntimeTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::NotFound => StatusCode::NOT_FOUND,
            ProxyError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::NoRuntimeForTier => StatusCode::INTERNAL_SERVER_ERROR,
            ProxyError::UsageNotConfigured => StatusCode::NOT_IMPLEMENTED,
            ProxyError::UsageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::NoTenant(_) => "no_tenant",
            ProxyError::NoToken => "no_token",
            ProxyError::TokenMismatch => "token_mismatch",
            ProxyError::BadBody(_) => "bad_body",
            ProxyError::PromptTooLarge { .. } => "prompt_too_large",
            ProxyError::BadSessionId(_) => "bad_session_id",
            ProxyError::SessionNotOwned => "session_not_owned",
            ProxyError::SessionExpired => "session_expired",
            ProxyError::RuntimeUnauthorized => "runtime_unauthorized",
            ProxyError::RuntimeForbidden => "runtime_forbidden",
            ProxyError::RuntimeThrottled { .. } => "runtime_throttled",
            ProxyError::BudgetExhausted { .. } => "budget_exhausted",
            ProxyError::RuntimeFailed => "runtime_failed",
            ProxyError::RuntimeTimeout => "runtime_timeout",
            ProxyError::AuditNotForRole => "audit_not_for_role",
            ProxyError::AuditQuery { code, .. } => code,
            ProxyError::AuditNotConfigured => "audit_not_configured",
            ProxyError::AuditUnavailable => "audit_unavailable",
            ProxyError::ResponseTooLarge => "runtime_response_too_large",
            ProxyError::NotFound => "not_found",
            ProxyError::MethodNotAllowed => "method_not_allowed",
            ProxyError::NoRuntimeForTier => "internal",
            ProxyError::UsageNotConfigured => "usage_not_configured",
            ProxyError::UsageUnavailable => "usage_unavailable",
        }
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error()
            && !matches!(
                self,
                ProxyError::RuntimeFailed
                    | ProxyError::RuntimeTimeout
                    | ProxyError::UsageNotConfigured
                    | ProxyError::UsageUnavailable
                    | ProxyError::AuditNotConfigured
                    | ProxyError::AuditUnavailable
            ) {
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut error = json!({"code": self.code(), "message": message});
        let retry_after = match &self {
            ProxyError::RuntimeThrottled { retry_after } => retry_after.as_ref(),
            // `reason` tells a client this 429 from the usage plan's (API Gateway's own,
            // `{"message": "Limit Exceeded"}`): waiting seconds will not help, the reset will.
            ProxyError::BudgetExhausted {
                resets_at,
                retry_after,
            } => {
                error["reason"] = "budget".into();
                error["resets_at"] = resets_at.as_str().into();
                retry_after.as_ref()
            }
            _ => None,
        };
        let mut resp = (status, Json(json!({ "error": error }))).into_response();
        if let Some(r) = retry_after
            && let Ok(v) = r.parse()
        {
            resp.headers_mut().insert("retry-after", v);
        }
        resp
    }
}
