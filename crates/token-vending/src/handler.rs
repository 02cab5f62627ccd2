use lambda_runtime::LambdaEvent;
use scoped_credentials::wire::{VendRequest, VendResponse, WireCredentials, WireTag, WireTenant};
use serde_json::Value;
use std::time::UNIX_EPOCH;

use crate::config::Deps;
use crate::error::VendError;

/// The Lambda handler: parses the event, then `vend`.
pub async fn handle(event: LambdaEvent<Value>, deps: &Deps) -> Result<VendResponse, VendError> {
    let request = parse(event.payload)?;
    vend(&request, deps).await
}

/// Only `{"id_token": "<string>", "scope": "data"|"memory"}`; anything else is a
/// bad request, reported without echoing the payload (it may hold a token).
fn parse(payload: Value) -> Result<VendRequest, VendError> {
    if !payload.is_object() {
        return Err(VendError::BadRequest(
            "the event must be a JSON object".into(),
        ));
    }
    serde_json::from_value(payload).map_err(|e| {
        // serde's message names the field and the expectation, never the value's content.
        VendError::BadRequest(format!(
            "expected {{\"id_token\": string, \"scope\": \"data\"|\"memory\"}}: {e}"
        ))
    })
}

/// Checks the scope is one this deployment vends, verifies the token, then assumes the TVM
/// role for the tenant it names. No STS call happens unless both checks passed.
pub async fn vend(request: &VendRequest, deps: &Deps) -> Result<VendResponse, VendError> {
    if !deps.allowed_scopes.allows(request.scope) {
        tracing::warn!(scope = %request.scope, "scope not vended by this deployment; nothing vended");
        return Err(VendError::ScopeNotAllowed(request.scope));
    }
    let verified = deps.verifier.verify(&request.id_token).await.map_err(|e| {
        tracing::warn!(code = e.code(), "token refused; nothing vended");
        VendError::Unauthorized(e)
    })?;
    let tenant = &verified.context;
    let creds = deps.issuer.assume_role(tenant, request.scope).await.map_err(|e| {
        tracing::error!(code = e.code(), retryable = e.is_retryable(), tier = %tenant.tier(), clinic_id = %tenant.clinic_id(), "AssumeRole failed");
        VendError::Credentials(e)
    })?;
    let expiration_epoch_seconds = creds
        .expiration
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| VendError::Credentials(scoped_credentials::Error::Incomplete("Expiration")))?;
    tracing::info!(
        tier = %tenant.tier(),
        clinic_id = %tenant.clinic_id(),
        user_id = %tenant.user(),
        role = %tenant.role(),
        scope = %request.scope,
        role_session_name = %creds.role_session_name,
        expiration_epoch_seconds,
        "vended scoped credentials"
    );
    Ok(VendResponse {
        session_tags: WireTag::session_tags_of(tenant),
        tenant: WireTenant::of(tenant),
        role_session_name: creds.role_session_name,
        credentials: WireCredentials {
            access_key_id: creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose().to_owned(),
            session_token: creds.session_token.expose().to_owned(),
            expiration_epoch_seconds,
        },
    })
}
