//! The crate's one error type. Every variant says whether a retry can help.

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's identity was refused: no credentials, and no upstream call was made.
    #[error("identity rejected: {0}")]
    Identity(#[from] tenant_context::Error),

    #[error("STS AssumeRole failed{}", if *.retryable { " (retryable)" } else { "" })]
    Sts {
        retryable: bool,
        #[source]
        source: BoxError,
    },

    /// The upstream answered without one of the four credential parts: nothing is returned.
    #[error("credential vendor returned incomplete credentials: `{0}` is missing or empty")]
    Incomplete(&'static str),

    #[error("token-vending function refused: {error_type}: {message}")]
    Vending {
        error_type: String,
        message: String,
        retryable: bool,
    },

    #[error("invoking the token-vending function failed")]
    VendingInvoke {
        #[source]
        source: BoxError,
    },

    #[error("token-vending function returned a reply that is not a vend response")]
    VendingReply(#[source] serde_json::Error),

    /// The vendor vouched for a tenant other than the one the caller verified. Never used.
    #[error("credential vendor vouched for a different tenant than the verified token")]
    TenantMismatch,

    #[error("configuration `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
}

impl Error {
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Sts { retryable, .. } | Error::Vending { retryable, .. } => *retryable,
            Error::VendingInvoke { .. } | Error::Incomplete(_) | Error::VendingReply(_) => true,
            Error::Identity(e) => e.is_retryable(),
            Error::TenantMismatch | Error::Config { .. } => false,
        }
    }

    /// A stable code for logs, metrics and Lambda error types.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Identity(e) => e.code(),
            Error::Sts { .. } => "sts_failed",
            Error::Incomplete(_) => "incomplete_credentials",
            Error::Vending { .. } => "vending_refused",
            Error::VendingInvoke { .. } => "vending_invoke_failed",
            Error::VendingReply(_) => "vending_bad_reply",
            Error::TenantMismatch => "tenant_mismatch",
            Error::Config { .. } => "config",
        }
    }
}

/// At start-up a credentials error is a configuration error (one error type for every
/// binary's configuration).
impl From<Error> for env_config::ConfigError {
    fn from(e: Error) -> Self {
        match e {
            Error::Config { field, reason } => env_config::ConfigError::new(field, reason),
            Error::Identity(inner) => inner.into(),
            other => {
                env_config::ConfigError::new("the credentials configuration", other.to_string())
            }
        }
    }
}
