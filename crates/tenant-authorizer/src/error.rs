use lambda_runtime::Diagnostic;

/// Why no Allow policy was returned. A Deny (a known identity that may not pass) is not an
/// error: it is a policy. These are the cases where API Gateway gets no policy at all.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, forged, expired or foreign token. API Gateway maps a Lambda error
    /// whose message is exactly `Unauthorized` to HTTP 401.
    #[error("Unauthorized")]
    Unauthorized(#[source] Option<tenant_context::Error>),

    /// The event is not an API Gateway REST authorizer event.
    #[error("not an API Gateway authorizer event: {0}")]
    BadEvent(&'static str),

    /// The identity provider, the registry or API Gateway could not be reached (HTTP 500; the
    /// client may retry).
    #[error("tenant lookup temporarily unavailable")]
    Unavailable,
}

impl From<AuthError> for Diagnostic {
    fn from(e: AuthError) -> Self {
        let error_type = match &e {
            AuthError::Unauthorized(_) => "Unauthorized",
            AuthError::BadEvent(_) => "BadRequest",
            AuthError::Unavailable => "Retryable.unavailable",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}
