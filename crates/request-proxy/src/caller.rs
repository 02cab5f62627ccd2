//! Who is calling: the tenant from the Lambda authorizer's context (API Gateway REST), and the
//! one Bearer token, which must be the one the authorizer verified. Nothing else names a
//! tenant: the body, the headers and the path never change tier, clinic, user or role.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use contracts::{BearerError, bearer_token};
use lambda_http::request::RequestContext;
use tenant_context::{TenantContext, TierCatalog};

use crate::deps::Deps;
use crate::error::ProxyError;

/// A caller whose tenant and token agree.
pub struct Caller {
    pub tenant: TenantContext,
    /// The authorizer's token, forwarded to the runtime (which verifies it again).
    pub token: String,
}

/// A refused request, with its tenant when the authorizer named one: the `request refused`
/// line names the tenant then (the Logs Insights queries group refusals by clinic).
pub struct Refusal {
    pub error: ProxyError,
    pub tenant: Option<TenantContext>,
}

impl Refusal {
    pub fn of(tenant: &TenantContext) -> impl FnOnce(ProxyError) -> Self + '_ {
        move |error| Self {
            error,
            tenant: Some(tenant.clone()),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let tenant = self.tenant.as_ref();
        tracing::info!(
            code = self.error.code(),
            status = self.error.status().as_u16(),
            tier = tenant.map(|t| tracing::field::display(t.tier())),
            clinic_id = tenant.map(|t| tracing::field::display(t.clinic_id())),
            "request refused"
        );
        self.error.into_response()
    }
}

impl FromRequestParts<Arc<Deps>> for Caller {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, deps: &Arc<Deps>) -> Result<Self, Refusal> {
        let tenant = tenant(parts, &deps.catalog).map_err(|error| Refusal {
            error,
            tenant: None,
        })?;
        let token = bearer_token(&parts.headers)
            .map_err(|e| match e {
                BearerError::Missing => ProxyError::NoToken,
                // API Gateway gives the function one value per header (the last) and does not
                // document which one the authorizer saw.
                BearerError::Several => ProxyError::TokenMismatch,
            })
            .and_then(|token| token_names(token, &tenant).map(|()| token.to_owned()))
            .map_err(Refusal::of(&tenant))?;
        Ok(Self { tenant, token })
    }
}

/// The tenant from the authorizer's context; nothing else.
pub(crate) fn tenant(parts: &Parts, catalog: &TierCatalog) -> Result<TenantContext, ProxyError> {
    let fields = match parts.extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV1(ctx)) => &ctx.authorizer.fields,
        _ => {
            return Err(ProxyError::NoTenant(tenant_context::Error::MissingClaim(
                "authorizer context",
            )));
        }
    };
    TenantContext::from_claims(fields, catalog).map_err(ProxyError::NoTenant)
}

/// The token forwarded to the runtime must be the one the authorizer verified: its user, tier,
/// clinic and role must be the authorizer's. A second `Authorization` header could otherwise
/// slip another tenant's token (a suspended one's, say) past the authorizer's checks. The
/// claims are only compared here, not trusted: the runtime verifies the signature.
pub(crate) fn token_names(token: &str, tenant: &TenantContext) -> Result<(), ProxyError> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).ok_or(ProxyError::TokenMismatch)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| ProxyError::TokenMismatch)?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| ProxyError::TokenMismatch)?;
    let claim = |k: &str| claims.get(k).and_then(|v| v.as_str());
    let same = claim(tenant_context::CLAIM_SUB) == Some(tenant.user().as_str())
        && claim(tenant_context::CLAIM_TIER) == Some(tenant.tier().as_str())
        && claim(tenant_context::CLAIM_CLINIC_ID) == Some(tenant.clinic_id().as_str())
        && claim(tenant_context::CLAIM_ROLE) == Some(tenant.role().as_str());
    if same {
        Ok(())
    } else {
        Err(ProxyError::TokenMismatch)
    }
}
