//! The proxy's routes. The tenant comes only from the authorizer context; the body, the
//! headers and the path never change tier, clinic, user or role.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use serde::Deserialize;
use tenant_context::{RuntimeSessionId, SessionBinder, TenantContext, TierCatalog, session_log_id};

use crate::config::{Config, ResponseMode};
use crate::error::ProxyError;
use crate::runtime;

pub struct Deps {
    pub config: Config,
    /// Issues session ids bound to the caller and checks the ones callers bring back.
    pub sessions: SessionBinder,
    pub catalog: TierCatalog,
    pub http: reqwest::Client,
    /// The per-clinic daily counters; `None` when the deployment keeps none.
    pub usage: Option<usage_meter::UsageMeter>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeBody {
    prompt: String,
    #[serde(default)]
    session_id: Option<String>,
}

pub fn router(deps: Arc<Deps>) -> Router {
    // lambda_http puts the REST API stage in the path (`/prod/invoke`) unless
    // AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH is set; serve both. The stage carries no tenant.
    Router::new()
        .route("/invoke", post(invoke))
        .route("/{stage}/invoke", post(invoke))
        .route("/usage", get(crate::usage::serve))
        .route("/{stage}/usage", get(crate::usage::serve))
        .fallback(|| async { ProxyError::NotFound })
        // A typed refusal for every other method too (API Gateway sends only these two).
        .method_not_allowed_fallback(|| async { ProxyError::MethodNotAllowed })
        .with_state(deps)
}

/// The tenant from the Lambda authorizer's context (API Gateway REST); nothing else.
/// The token forwarded to the runtime must be the one the authorizer verified: its user, tier,
/// clinic and role must be the authorizer's. API Gateway gives a Lambda proxy integration
/// one value per header (the last, for a repeated header) and does not document which value
/// the authorizer saw, so a second `Authorization` header could otherwise slip another
/// tenant's token (a suspended one's, say) past the authorizer's checks. The claims are only
/// compared here, not trusted: the runtime verifies the signature.
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

pub(crate) fn tenant<B>(
    req: &Request<B>,
    catalog: &TierCatalog,
) -> Result<TenantContext, ProxyError> {
    let fields = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => &ctx.authorizer.fields,
        _ => {
            return Err(ProxyError::NoTenant(tenant_context::Error::MissingClaim(
                "authorizer context",
            )));
        }
    };
    TenantContext::from_claims(fields, catalog).map_err(ProxyError::NoTenant)
}

/// What was wrong with a body, without any of its values: serde's messages quote them, and a
/// prompt can hold patient data.
pub fn body_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => {
            format!("not valid JSON (line {}, column {})", e.line(), e.column())
        }
        _ => r#"expected {"prompt": string, "session_id"?: string} and nothing else"#.to_owned(),
    }
}

/// The request's one Bearer token. Two `Authorization` values are refused: the authorizer and
/// this function could each read a different one.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<String, ProxyError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next().ok_or(ProxyError::NoToken)?;
    if values.next().is_some() {
        return Err(ProxyError::TokenMismatch);
    }
    let raw = first.to_str().map_err(|_| ProxyError::NoToken)?;
    let (scheme, token) = raw.trim().split_once(' ').ok_or(ProxyError::NoToken)?;
    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
        Ok(token.trim().to_owned())
    } else {
        Err(ProxyError::NoToken)
    }
}

async fn invoke(State(deps): State<Arc<Deps>>, req: Request) -> Response {
    // Set once the tenant is known, so a later refusal is attributed to it.
    let mut known: Option<TenantContext> = None;
    match proxy(&deps, req, &mut known).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::info!(
                code = e.code(),
                status = e.status().as_u16(),
                tier = known.as_ref().map(|t| tracing::field::display(t.tier())),
                clinic_id = known
                    .as_ref()
                    .map(|t| tracing::field::display(t.clinic_id())),
                "request refused"
            );
            e.into_response()
        }
    }
}

async fn proxy(
    deps: &Deps,
    req: Request,
    known: &mut Option<TenantContext>,
) -> Result<Response, ProxyError> {
    let tenant = tenant(&req, &deps.catalog)?;
    *known = Some(tenant.clone());
    // Counted as API Gateway's quota counts: every request that reaches the integration, the
    // ones refused below included. Alongside the work, so it adds no wait; a failed count is
    // logged and the clinician still gets the answer (the agents' usage lines stay the
    // billing record).
    let (result, ()) = tokio::join!(forward(deps, req, &tenant), count_request(deps, &tenant));
    result
}

async fn forward(
    deps: &Deps,
    req: Request,
    tenant: &TenantContext,
) -> Result<Response, ProxyError> {
    let token = bearer(req.headers())?;
    token_names(&token, tenant)?;
    // The body may be at most the prompt limit plus room for the JSON around it.
    let limit = crate::config::max_body_bytes(deps.config.max_prompt_bytes);
    let body: Bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ProxyError::PromptTooLarge {
            max: deps.config.max_prompt_bytes,
        })?;
    let parsed: InvokeBody =
        serde_json::from_slice(&body).map_err(|e| ProxyError::BadBody(body_error(&e)))?;
    if parsed.prompt.len() > deps.config.max_prompt_bytes {
        return Err(ProxyError::PromptTooLarge {
            max: deps.config.max_prompt_bytes,
        });
    }
    // A session id is the key to a conversation's microVM: the proxy issues ids bound to the
    // caller and accepts back only those issued to the same user.
    let session = match parsed.session_id.as_deref() {
        Some(s) => {
            let id = RuntimeSessionId::parse(s).map_err(ProxyError::BadSessionId)?;
            deps.sessions
                .check(tenant, &id)
                .map_err(|_| ProxyError::SessionNotOwned)?;
            id
        }
        None => deps
            .sessions
            .issue(tenant)
            .map_err(|_| ProxyError::RuntimeFailed)?,
    };
    let arn = deps
        .config
        .runtime_arns
        .get(tenant.tier())
        // Config requires an ARN for every tier of the catalog the tenant came from, so this
        // is a deployment fault.
        .ok_or(ProxyError::NoRuntimeForTier)?;
    // The line the Logs Insights queries parse, then the same as fields. Never the prompt or token.
    tracing::info!(
        tier = %tenant.tier(),
        clinic_id = %tenant.clinic_id(),
        user_id = %tenant.user(),
        role = %tenant.role(),
        // Never the raw id: with the user's token it resumes the conversation.
        session = %session_log_id(&session),
        "Tier: {}, Clinic ID: {}, User ID: {}, Role: {}",
        tenant.tier(),
        tenant.clinic_id(),
        tenant.user(),
        tenant.role()
    );
    let payload = serde_json::to_vec(&serde_json::json!({ "prompt": parsed.prompt }))
        .map_err(|e| ProxyError::BadBody(e.to_string()))?;
    let url = runtime::invocation_url(&deps.config.runtime_endpoint, arn);
    let session_header = (
        header::HeaderName::from_static("x-tenantry-session-id"),
        session.to_string(),
    );
    if deps.config.response_mode == ResponseMode::Stream {
        // The agent's events pass through as they come (Lambda response streaming).
        let reply = runtime::invoke_streaming(&deps.http, &url, &token, &session, payload).await?;
        return Ok((
            [
                (header::CONTENT_TYPE, reply.content_type),
                (header::CACHE_CONTROL, "no-cache".to_owned()),
            ],
            [session_header],
            axum::body::Body::from_stream(reply.body.bytes_stream()),
        )
            .into_response());
    }
    let reply = runtime::invoke(
        &deps.http,
        &url,
        &token,
        &session,
        payload,
        deps.config.max_response_bytes,
    )
    .await?;
    Ok((
        [(header::CONTENT_TYPE, reply.content_type)],
        [session_header],
        reply.body,
    )
        .into_response())
}

async fn count_request(deps: &Deps, tenant: &TenantContext) {
    let Some(meter) = &deps.usage else { return };
    if let Err(e) = meter
        .count_request(tenant.tier(), tenant.clinic_id(), usage_meter::utc_today())
        .await
    {
        tracing::warn!(error = %e, clinic_id = %tenant.clinic_id(), "usage count failed");
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;

    #[test]
    fn a_refused_body_is_described_without_its_values() {
        for bad in [
            r#"{"prompt": 123456789}"#,
            r#"{"prompt": "hi", "patient_123456789": 1}"#,
            r#"{"prompt": "hi", "session_id": 123456789}"#,
            "{\"prompt\": \"123456789",
        ] {
            let e = serde_json::from_str::<InvokeBody>(bad).err().expect(bad);
            let m = body_error(&e);
            assert!(!m.contains("123456789"), "{bad}: {m}");
        }
    }
}
