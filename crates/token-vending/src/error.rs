use lambda_runtime::Diagnostic;

/// Why the function vended nothing. The Lambda error type is stable and machine-readable:
/// `BadRequest.*`, `Forbidden.*`, `Unauthorized.*`, `Retryable.*` or `Internal.*`; clients retry only
/// `Retryable.*`. Messages never contain the token or credentials.
#[derive(Debug, thiserror::Error)]
pub enum VendError {
    #[error("bad request: {0}")]
    BadRequest(String),

    #[error("forbidden: this function does not vend `{0}`-scoped credentials to its callers")]
    ScopeNotAllowed(scoped_credentials::Scope),

    #[error("unauthorized: {0}")]
    Unauthorized(tenant_context::Error),

    #[error("credentials: {0}")]
    Credentials(#[from] scoped_credentials::Error),
}

impl VendError {
    pub fn error_type(&self) -> String {
        match self {
            VendError::BadRequest(_) => "BadRequest.invalid_event".to_owned(),
            VendError::ScopeNotAllowed(_) => "Forbidden.scope_not_allowed".to_owned(),
            VendError::Unauthorized(e) if e.is_retryable() => format!("Retryable.{}", e.code()),
            VendError::Unauthorized(e) => format!("Unauthorized.{}", e.code()),
            VendError::Credentials(e) if e.is_retryable() => format!("Retryable.{}", e.code()),
            VendError::Credentials(e) => format!("Internal.{}", e.code()),
        }
    }
}

impl From<VendError> for Diagnostic {
    fn from(e: VendError) -> Self {
        Diagnostic {
            error_type: e.error_type(),
            error_message: e.to_string(),
        }
    }
}
