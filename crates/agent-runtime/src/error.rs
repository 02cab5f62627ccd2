//! Why an invocation was refused or failed. Its code ([`AgentErrorCode`], shared with every
//! reader of the agent's answers) owns the HTTP status and whether a retry may help.
//! Configuration errors are apart (`config::ConfigError`): they stop the process at start-up.

use axum::Json;
use axum::response::{IntoResponse, Response};
use contracts::AgentErrorCode;
use contracts::agent_error::ErrorReply;

use crate::events::AgentEvent;
use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(
        "missing ID token (send exactly one `X-Amzn-Bedrock-AgentCore-Runtime-Custom-Id-Token` header)"
    )]
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
    #[error("the runtime session has expired: start a new conversation")]
    SessionExpired,
    #[error("{0}")]
    NotServed(tenant_registry::NotServed),
    #[error("the body must be JSON {{\"prompt\": string}} and nothing else: {0}")]
    BadBody(String),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt is larger than {max} bytes")]
    PromptTooLarge { max: usize },
    #[error("more turns this minute than one user may start; retry in {retry_after_secs} s")]
    UserRateLimited { retry_after_secs: u64 },
    #[error(
        "the clinic's {period} token budget is used up; it starts again at {}",
        resets_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )]
    BudgetExhausted {
        /// `daily` or `monthly`.
        period: &'static str,
        resets_at: chrono::DateTime<chrono::Utc>,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("the guardrail is unavailable and this tier does not answer unchecked; retry shortly")]
    GuardrailUnavailable,
    #[error(
        "the invocation's deadline passed while waiting for {0}; ask again, or ask for less at once"
    )]
    DeadlineExceeded(Stage),
}

/// The stages of a turn that wait on something else, to name the one a deadline ran out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    InputGuardrail,
    Tools,
    MemoryRecall,
    Model,
    ToolCall,
    /// The guardrail reading a tool's outside text.
    ToolTextGuardrail,
    OutputGuardrail,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::InputGuardrail => "the input guardrail",
            Stage::Tools => "the tools to connect",
            Stage::MemoryRecall => "memory recall",
            Stage::Model => "the model",
            Stage::ToolCall => "a tool call",
            Stage::ToolTextGuardrail => "the guardrail on a tool's text",
            Stage::OutputGuardrail => "the output guardrail",
        })
    }
}

impl InvocationError {
    pub fn code(&self) -> AgentErrorCode {
        match self {
            Self::NoToken => AgentErrorCode::NoToken,
            Self::BadToken(e) => token_code(e),
            Self::IdentityUnavailable(_) => AgentErrorCode::IdentityUnavailable,
            Self::WrongTier => AgentErrorCode::WrongTier,
            Self::BadSessionId => AgentErrorCode::BadSessionId,
            Self::SessionNotOwned => AgentErrorCode::SessionNotOwned,
            Self::SessionExpired => AgentErrorCode::SessionExpired,
            Self::NotServed(tenant_registry::NotServed::Closed) => AgentErrorCode::TenantNotServed,
            Self::NotServed(tenant_registry::NotServed::Unavailable) => {
                AgentErrorCode::RegistryUnavailable
            }
            Self::BadBody(_) => AgentErrorCode::BadBody,
            Self::EmptyPrompt => AgentErrorCode::EmptyPrompt,
            Self::PromptTooLarge { .. } => AgentErrorCode::PromptTooLarge,
            Self::UserRateLimited { .. } => AgentErrorCode::UserRateLimited,
            Self::BudgetExhausted { .. } => AgentErrorCode::BudgetExhausted,
            Self::Model(e) => e.code(),
            Self::GuardrailUnavailable => AgentErrorCode::GuardrailUnavailable,
            Self::DeadlineExceeded(_) => AgentErrorCode::DeadlineExceeded,
        }
    }

    /// The same failure as a stream's closing event.
    pub fn to_event(&self) -> AgentEvent {
        AgentEvent::failure(self.code(), self.to_string())
    }
}

/// The caller's view of a refused token: the reason, so a client can tell "sign in again"
/// (`token_expired`) from a forged token. Outages and our own configuration are not the
/// caller's token's fault: `identity_unavailable`.
fn token_code(e: &tenant_context::Error) -> AgentErrorCode {
    use tenant_context::Error as E;
    match e {
        E::InvalidIdentifier { .. } => AgentErrorCode::InvalidIdentifier,
        E::UnknownTier => AgentErrorCode::UnknownTier,
        E::MissingClaim(_) => AgentErrorCode::MissingClaim,
        E::ClaimNotString(_) | E::InvalidClaim { .. } => AgentErrorCode::InvalidClaim,
        E::MissingHeader(_) => AgentErrorCode::MissingTenantHeader,
        E::AmbiguousHeader(_) => AgentErrorCode::AmbiguousTenantHeader,
        E::HeaderMismatch(_) => AgentErrorCode::TenantHeaderMismatch,
        E::SessionNotOwned => AgentErrorCode::SessionNotOwned,
        E::SessionExpired => AgentErrorCode::SessionExpired,
        E::TokenMalformed => AgentErrorCode::TokenMalformed,
        E::UnsupportedAlgorithm(_) => AgentErrorCode::TokenAlgorithm,
        E::MissingKid => AgentErrorCode::TokenMissingKid,
        E::CriticalExtension => AgentErrorCode::TokenCriticalExtension,
        E::UnknownKid => AgentErrorCode::TokenUnknownKid,
        E::BadSignature => AgentErrorCode::TokenBadSignature,
        E::Expired => AgentErrorCode::TokenExpired,
        E::NotYetValid => AgentErrorCode::TokenNotYetValid,
        E::WrongIssuer => AgentErrorCode::TokenWrongIssuer,
        E::WrongAudience => AgentErrorCode::TokenWrongAudience,
        E::WrongTokenUse => AgentErrorCode::TokenWrongUse,
        E::JwksUnavailable { .. }
        | E::TierFileSyntax { .. }
        | E::TierFileInvalid { .. }
        | E::Config { .. } => AgentErrorCode::IdentityUnavailable,
    }
}

impl IntoResponse for InvocationError {
    fn into_response(self) -> Response {
        let code = self.code();
        let mut reply = ErrorReply::new(code, self.to_string());
        let retry_after = match &self {
            Self::UserRateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::BudgetExhausted {
                resets_at,
                retry_after_secs,
                ..
            } => {
                reply.error.resets_at =
                    Some(resets_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                Some(*retry_after_secs)
            }
            _ => None,
        };
        let mut response = (code.status(), Json(reply)).into_response();
        if let Some(retry_after_secs) = retry_after
            && let Ok(v) = axum::http::HeaderValue::try_from(retry_after_secs.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token refusal keeps tenant-context's own code on the wire.
    #[test]
    fn a_refused_token_is_named_by_tenant_contexts_code() {
        use tenant_context::Error as E;
        for e in [
            E::TokenMalformed,
            E::UnsupportedAlgorithm("HS256".into()),
            E::MissingKid,
            E::CriticalExtension,
            E::UnknownKid,
            E::BadSignature,
            E::Expired,
            E::NotYetValid,
            E::WrongIssuer,
            E::WrongAudience,
            E::WrongTokenUse,
            E::UnknownTier,
            E::MissingClaim("custom:tier"),
            E::SessionNotOwned,
            E::MissingHeader("X-Tier"),
            E::AmbiguousHeader("X-Tier"),
            E::HeaderMismatch("X-Tier"),
        ] {
            assert_eq!(token_code(&e).as_str(), e.code(), "{e}");
            if !matches!(e, E::SessionNotOwned) {
                assert_eq!(token_code(&e).status(), 401_u16, "{e}");
            }
        }
    }
}
