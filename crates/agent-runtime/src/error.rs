//! Why an invocation was refused or failed, with its HTTP status and a stable code.
//! Configuration errors are apart (`config::ConfigError`): they stop the process at start-up.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::events::AgentEvent;
use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("missing Bearer token (send exactly one `Authorization: Bearer <ID token>` header)")]
    NoToken,
    #[error("the token was refused: {0}")]
    BadToken(tenant_context::Error),
    #[error("the identity service is unreachable; retry shortly")]
    IdentityUnavailable(tenant_context::Error),
    #[error("this runtime serves another tier than the caller's")]
    WrongTier,
    #[error("missing or invalid runtime session id header")]
    BadSessionId,
    #[error("the runtime session belongs to another user")]
    SessionNotOwned,
    #[error("the body must be JSON {{\"prompt\": string}} and nothing else: {0}")]
    BadBody(String),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt is larger than {max} bytes")]
    PromptTooLarge { max: usize },
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("the guardrail is unavailable and this tier does not answer unchecked; retry shortly")]
    GuardrailUnavailable,
}

impl InvocationError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoToken | Self::BadToken(_) => StatusCode::UNAUTHORIZED,
            Self::WrongTier | Self::SessionNotOwned => StatusCode::FORBIDDEN,
            Self::BadSessionId | Self::BadBody(_) | Self::EmptyPrompt => StatusCode::BAD_REQUEST,
            Self::PromptTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::IdentityUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Model(ModelError::Throttled) => StatusCode::TOO_MANY_REQUESTS,
            Self::Model(ModelError::Timeout) => StatusCode::GATEWAY_TIMEOUT,
            Self::Model(_) => StatusCode::BAD_GATEWAY,
            Self::GuardrailUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::BadToken(e) => e.code(),
            Self::IdentityUnavailable(_) => "identity_unavailable",
            Self::WrongTier => "wrong_tier",
            Self::BadSessionId => "bad_session_id",
            Self::SessionNotOwned => "session_not_owned",
            Self::BadBody(_) => "bad_body",
            Self::EmptyPrompt => "empty_prompt",
            Self::PromptTooLarge { .. } => "prompt_too_large",
            Self::Model(e) => e.code(),
            Self::GuardrailUnavailable => "guardrail_unavailable",
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            Self::IdentityUnavailable(_) | Self::GuardrailUnavailable => true,
            Self::Model(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The same failure as a stream's closing event.
    pub fn to_event(&self) -> AgentEvent {
        AgentEvent::Error {
            error: self.code(),
            error_type: match self {
                Self::Model(_) => "ModelError",
                Self::GuardrailUnavailable => "GuardrailError",
                _ => "InvocationRefused",
            },
            message: self.to_string(),
            retryable: self.is_retryable(),
        }
    }
}

impl IntoResponse for InvocationError {
    fn into_response(self) -> Response {
        (
            self.status(),
            Json(json!({"error": {
                "code": self.code(),
                "message": self.to_string(),
                "retryable": self.is_retryable(),
            }})),
        )
            .into_response()
    }
}
