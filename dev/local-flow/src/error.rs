//! The tour's one error type: a failed expectation names the step and what was seen.

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Stack(#[from] devstack::StackError),
    #[error(transparent)]
    Standin(#[from] testkit::Error),
    #[error(transparent)]
    Tenant(#[from] tenant_context::Error),
    #[error("demo tenant {clinic}: {source}")]
    DemoTenant {
        clinic: String,
        #[source]
        source: tenant_context::Error,
    },
    #[error("demo tenant {clinic}: the verified token says {got}, the demo data says {want}")]
    Disagreement {
        clinic: String,
        got: String,
        want: String,
    },
    #[error("a tampered token was accepted: the verifier is broken")]
    TamperAccepted,
    #[error(
        "tool-target's token-vending deployment vended memory credentials: its allowed scopes are broken"
    )]
    ScopeAccepted,
    #[error(transparent)]
    Credentials(#[from] scoped_credentials::Error),
    #[error("{what}")]
    Unexpected { what: String },
    #[error("STS stand-in call with the vended credentials failed")]
    CallerIdentity(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A failed expectation.
pub fn unexpected(what: impl Into<String>) -> FlowError {
    FlowError::Unexpected { what: what.into() }
}
