//! Why an agent invocation was refused or failed: the code in `{"error": {"code", ...}}` and in
//! a stream's closing `error` event. The code owns its HTTP status and whether a retry may
//! succeed, so an answer that is collected from events gets the same status as one refused
//! up front, and a caller can act on the code without parsing a message.

use std::fmt;
use std::str::FromStr;

use http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, $status:ident, $retry:literal, $kind:literal; )+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AgentErrorCode {
            $( $(#[$doc])* $variant, )+
        }

        impl AgentErrorCode {
            pub const ALL: &'static [AgentErrorCode] = &[$(AgentErrorCode::$variant),+];

            /// The code on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(AgentErrorCode::$variant => $wire,)+ }
            }

            /// The status of an answer that carries this code.
            pub fn status(self) -> StatusCode {
                match self { $(AgentErrorCode::$variant => StatusCode::$status,)+ }
            }

            /// True when retrying later may succeed; false for every verdict about the request
            /// or the caller, which a retry cannot change.
            pub fn retryable(self) -> bool {
                match self { $(AgentErrorCode::$variant => $retry,)+ }
            }

            /// The kind a stream's `error` event names (`error_type`, as AgentCore's Python
            /// SDK calls it).
            pub fn error_type(self) -> &'static str {
                match self { $(AgentErrorCode::$variant => $kind,)+ }
            }
        }

        impl FromStr for AgentErrorCode {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, UnknownCode> {
                match s {
                    $($wire => Ok(AgentErrorCode::$variant),)+
                    _ => Err(UnknownCode),
                }
            }
        }
    };
}

codes! {
    /// No ID token (the proxy: `Authorization: Bearer`; the agent: the Runtime's custom
    /// ID-token header), or more than one.
    NoToken = "no_token", UNAUTHORIZED, false, "InvocationRefused";
    TokenMalformed = "token_malformed", UNAUTHORIZED, false, "InvocationRefused";
    TokenAlgorithm = "token_algorithm", UNAUTHORIZED, false, "InvocationRefused";
    TokenMissingKid = "token_missing_kid", UNAUTHORIZED, false, "InvocationRefused";
    TokenCriticalExtension = "token_critical_extension", UNAUTHORIZED, false, "InvocationRefused";
    TokenUnknownKid = "token_unknown_kid", UNAUTHORIZED, false, "InvocationRefused";
    TokenBadSignature = "token_bad_signature", UNAUTHORIZED, false, "InvocationRefused";
    /// Sign in again.
    TokenExpired = "token_expired", UNAUTHORIZED, false, "InvocationRefused";
    TokenNotYetValid = "token_not_yet_valid", UNAUTHORIZED, false, "InvocationRefused";
    TokenWrongIssuer = "token_wrong_issuer", UNAUTHORIZED, false, "InvocationRefused";
    TokenWrongAudience = "token_wrong_audience", UNAUTHORIZED, false, "InvocationRefused";
    TokenWrongUse = "token_wrong_use", UNAUTHORIZED, false, "InvocationRefused";
    MissingClaim = "missing_claim", UNAUTHORIZED, false, "InvocationRefused";
    InvalidClaim = "invalid_claim", UNAUTHORIZED, false, "InvocationRefused";
    InvalidIdentifier = "invalid_identifier", UNAUTHORIZED, false, "InvocationRefused";
    UnknownTier = "unknown_tier", UNAUTHORIZED, false, "InvocationRefused";
    MissingTenantHeader = "missing_tenant_header", UNAUTHORIZED, false, "InvocationRefused";
    AmbiguousTenantHeader = "ambiguous_tenant_header", UNAUTHORIZED, false, "InvocationRefused";
    TenantHeaderMismatch = "tenant_header_mismatch", UNAUTHORIZED, false, "InvocationRefused";
    /// The identity provider's keys could not be read.
    IdentityUnavailable = "identity_unavailable", SERVICE_UNAVAILABLE, true, "InvocationRefused";
    /// The token is of another tier than this runtime serves.
    WrongTier = "wrong_tier", FORBIDDEN, false, "InvocationRefused";
    BadSessionId = "bad_session_id", BAD_REQUEST, false, "InvocationRefused";
    /// The session id was issued to another user.
    SessionNotOwned = "session_not_owned", FORBIDDEN, false, "InvocationRefused";
    /// The session id is older than a session may live: start a new conversation.
    SessionExpired = "session_expired", FORBIDDEN, false, "InvocationRefused";
    /// The caller's clinic is not served (suspended, or not onboarded on this tier).
    TenantNotServed = "tenant_not_served", FORBIDDEN, false, "InvocationRefused";
    /// The tenant registry could not be read: refused (fail closed), retry shortly.
    RegistryUnavailable = "registry_unavailable", SERVICE_UNAVAILABLE, true, "InvocationRefused";
    BadBody = "bad_body", BAD_REQUEST, false, "InvocationRefused";
    EmptyPrompt = "empty_prompt", BAD_REQUEST, false, "InvocationRefused";
    PromptTooLarge = "prompt_too_large", PAYLOAD_TOO_LARGE, false, "InvocationRefused";
    /// The caller sent more turns this minute than the runtime's per-user limit; retry after
    /// the `Retry-After` seconds.
    UserRateLimited = "user_rate_limited", TOO_MANY_REQUESTS, true, "InvocationRefused";
    /// The clinic's token budget (daily or monthly) cannot take the turn; retry once it
    /// starts again (`resets_at`, and `Retry-After` on a refusal before the stream).
    BudgetExhausted = "budget_exhausted", TOO_MANY_REQUESTS, true, "InvocationRefused";
    ModelThrottled = "model_throttled", TOO_MANY_REQUESTS, true, "ModelError";
    ModelUnavailable = "model_unavailable", BAD_GATEWAY, true, "ModelError";
    ModelTimeout = "model_timeout", GATEWAY_TIMEOUT, true, "ModelError";
    ModelRefused = "model_refused", BAD_GATEWAY, false, "ModelError";
    ModelBadResponse = "model_bad_response", BAD_GATEWAY, false, "ModelError";
    ModelCredentialsUnavailable = "model_credentials_unavailable", BAD_GATEWAY, true, "ModelError";
    /// The invocation's deadline passed; the message names the stage that was waiting.
    DeadlineExceeded = "deadline_exceeded", GATEWAY_TIMEOUT, true, "Timeout";
    /// The guardrail could not be reached and the tier does not answer unchecked.
    GuardrailUnavailable = "guardrail_unavailable", SERVICE_UNAVAILABLE, true, "GuardrailError";
    NotFound = "not_found", NOT_FOUND, false, "InvocationRefused";
    /// The invocation ended without an answer (a task that failed): may pass on a retry.
    Internal = "internal", INTERNAL_SERVER_ERROR, true, "Internal";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an agent error code")]
pub struct UnknownCode;

impl fmt::Display for AgentErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AgentErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AgentErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown agent error code `{s}`")))
    }
}

/// The body of a refused or failed invocation: `{"error": {"code", "message", "retryable"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: AgentErrorCode,
    pub message: String,
    pub retryable: bool,
    /// When a refused budget starts again (RFC 3339, UTC); only with `budget_exhausted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
}

impl ErrorReply {
    pub fn new(code: AgentErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                retryable: code.retryable(),
                resets_at: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_reads_back_and_is_unique() {
        let mut seen = HashSet::new();
        for code in AgentErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(code.as_str().parse::<AgentErrorCode>(), Ok(*code));
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(
                serde_json::from_str::<AgentErrorCode>(&json).unwrap(),
                *code
            );
        }
        assert!("model_throtled".parse::<AgentErrorCode>().is_err());
    }

    #[test]
    fn the_caller_sees_its_own_faults_as_4xx_and_ours_as_5xx() {
        for code in AgentErrorCode::ALL {
            let s = code.status();
            // 429s are retried after a wait: not a fault of the request itself.
            let callers_fault = s.is_client_error() && s.as_u16() != 429;
            assert!(
                !(callers_fault && code.retryable()),
                "{code}: a retry cannot fix the caller's request"
            );
            assert!(s.is_client_error() || s.is_server_error(), "{code}");
        }
        assert_eq!(AgentErrorCode::ModelThrottled.status(), 429);
        assert_eq!(AgentErrorCode::UserRateLimited.status(), 429);
        assert!(AgentErrorCode::UserRateLimited.retryable());
        assert_eq!(AgentErrorCode::GuardrailUnavailable.status(), 503);
    }
}
