//! The crate's one error type.
//!
//! Messages name the field and the rule that failed, never the offending value: values can be
//! attacker-controlled, arbitrarily long, or (for tokens) secrets. Every variant maps to a stable
//! machine-readable code (`Error::code`) that callers use for HTTP statuses, Lambda error types
//! and metrics.

use std::fmt;

/// Which identifier failed its grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Tier,
    ClinicId,
    UserKey,
    Role,
    RuntimeSessionId,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Tier => "tier",
            IdKind::ClinicId => "clinic id",
            IdKind::UserKey => "user key",
            IdKind::Role => "role",
            IdKind::RuntimeSessionId => "runtime session id",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- identifiers and claims -------------------------------------------------------------
    #[error("invalid {kind}: {rule}")]
    InvalidIdentifier { kind: IdKind, rule: &'static str },

    #[error("tier is not defined in the tier file")]
    UnknownTier,

    #[error("identity claim `{0}` is missing")]
    MissingClaim(&'static str),

    #[error("identity claim `{0}` must be a string")]
    ClaimNotString(&'static str),

    #[error("identity claim `{claim}` is invalid: {source}")]
    InvalidClaim {
        claim: &'static str,
        #[source]
        source: Box<Error>,
    },

    // ---- propagated tenant headers ----------------------------------------------------------
    #[error("tenant header `{0}` is missing")]
    MissingHeader(&'static str),

    #[error("tenant header `{0}` appears more than once with different values")]
    AmbiguousHeader(&'static str),

    #[error("tenant header `{0}` disagrees with the verified token")]
    HeaderMismatch(&'static str),

    // ---- runtime sessions -------------------------------------------------------------------
    #[error("the runtime session id was not issued to this user")]
    SessionNotOwned,

    #[error("the runtime session id has expired: start a new conversation")]
    SessionExpired,

    // ---- token verification -----------------------------------------------------------------
    #[error("token is not a well-formed JWT")]
    TokenMalformed,

    #[error("token algorithm `{0}` is not accepted: only RS256 is")]
    UnsupportedAlgorithm(String),

    #[error("token header has no `kid`")]
    MissingKid,

    /// RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` names extensions it does
    /// not understand, and this verifier understands none.
    #[error("token header marks extensions as critical (`crit`): none is understood here")]
    CriticalExtension,

    #[error(
        "token key id is not in the issuer's JWKS (checked it again within the refresh interval)"
    )]
    UnknownKid,

    #[error("token signature does not verify")]
    BadSignature,

    #[error("token has expired")]
    Expired,

    #[error("token is not valid yet (nbf in the future)")]
    NotYetValid,

    #[error("token issuer does not match the configured issuer")]
    WrongIssuer,

    #[error("token audience does not match the configured app client id")]
    WrongAudience,

    #[error("token_use must be `id` (an ID token), got another kind of token")]
    WrongTokenUse,

    #[error(
        "JWKS unavailable and no cached key for this token: {reason}; check the JWKS URL and that the identity provider is reachable"
    )]
    JwksUnavailable { reason: String },

    // ---- configuration ----------------------------------------------------------------------
    #[error("tier file: {field}: {source}")]
    TierFileSyntax {
        field: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("tier file: {field}: {reason}")]
    TierFileInvalid { field: String, reason: String },

    #[error("configuration `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
}

impl Error {
    /// A stable code for logs, metrics, HTTP mapping and Lambda error types.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidIdentifier { .. } => "invalid_identifier",
            Error::UnknownTier => "unknown_tier",
            Error::MissingClaim(_) => "missing_claim",
            Error::ClaimNotString(_) | Error::InvalidClaim { .. } => "invalid_claim",
            Error::MissingHeader(_) => "missing_tenant_header",
            Error::AmbiguousHeader(_) => "ambiguous_tenant_header",
            Error::HeaderMismatch(_) => "tenant_header_mismatch",
            Error::SessionNotOwned => "session_not_owned",
            Error::SessionExpired => "session_expired",
            Error::TokenMalformed => "token_malformed",
            Error::UnsupportedAlgorithm(_) => "token_algorithm",
            Error::MissingKid => "token_missing_kid",
            Error::CriticalExtension => "token_critical_extension",
            Error::UnknownKid => "token_unknown_kid",
            Error::BadSignature => "token_bad_signature",
            Error::Expired => "token_expired",
            Error::NotYetValid => "token_not_yet_valid",
            Error::WrongIssuer => "token_wrong_issuer",
            Error::WrongAudience => "token_wrong_audience",
            Error::WrongTokenUse => "token_wrong_use",
            Error::JwksUnavailable { .. } => "jwks_unavailable",
            Error::TierFileSyntax { .. } | Error::TierFileInvalid { .. } => "tier_file",
            Error::Config { .. } => "config",
        }
    }

    /// True when retrying later may succeed (the identity provider was unreachable); false for
    /// every verdict about the caller's identity, which a retry cannot change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::JwksUnavailable { .. })
    }

    /// True when the caller's identity was rejected (as opposed to our own configuration or an
    /// outage): the caller gets 401/403, never 5xx.
    pub fn is_identity_rejection(&self) -> bool {
        !matches!(
            self,
            Error::JwksUnavailable { .. }
                | Error::TierFileSyntax { .. }
                | Error::TierFileInvalid { .. }
                | Error::Config { .. }
        )
    }
}

/// At start-up an identity error is a configuration error: the variable it names, or the
/// tier file (one error type for every binary's configuration).
impl From<Error> for env_config::ConfigError {
    fn from(e: Error) -> Self {
        match e {
            Error::Config { field, reason } => env_config::ConfigError::new(field, reason),
            Error::TierFileSyntax { .. } | Error::TierFileInvalid { .. } => {
                env_config::ConfigError::new("the tier file (infra/tiers.json)", e.to_string())
            }
            other => env_config::ConfigError::new("the identity configuration", other.to_string()),
        }
    }
}
