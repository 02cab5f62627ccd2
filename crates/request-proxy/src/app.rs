//! The proxy's routes. The caller ([`Caller`]) is the authorizer's tenant with the token it
//! verified; the body, the headers and the path never change tier, clinic, user or role.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use contracts::headers::PROXY_SESSION_ID;
use contracts::invocation::{PROXY_REQUEST_SHAPE, describe_refusal};
use contracts::{InvocationBody, ProxyRequest};
use tenant_context::{RuntimeSessionId, TenantContext, session_log_id};

use crate::caller::{Caller, Refusal};
use crate::config::ResponseMode;
pub use crate::deps::Deps;
use crate::error::ProxyError;
use crate::runtime;

pub fn router(deps: Arc<Deps>) -> Router {
    // lambda_http puts the REST API stage in the path (`/prod/invoke`) unless
    // AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH is set; serve both. The stage carries no tenant.
    Router::new()
        .route("/invoke", post(invoke))
        .route("/{stage}/invoke", post(invoke))
        .route("/usage", get(crate::usage::serve))
        .route("/{stage}/usage", get(crate::usage::serve))
        .route("/audit", get(crate::audit::serve))
        .route("/{stage}/audit", get(crate::audit::serve))
        .fallback(|| async { ProxyError::NotFound })
        // A typed refusal for every other method too (API Gateway sends only these two).
        .method_not_allowed_fallback(|| async { ProxyError::MethodNotAllowed })
        .with_state(deps)
}

/// What was wrong with a body, without any of its values (a prompt can hold patient data).
pub fn body_error(e: &serde_json::Error) -> String {
    describe_refusal(e, PROXY_REQUEST_SHAPE)
}

async fn invoke(
    State(deps): State<Arc<Deps>>,
    caller: Result<Caller, Refusal>,
    body: Body,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(refusal) => {
            // Counted as API Gateway's quota counts: every request that reaches the
            // integration, refused ones included, once the clinic is known.
            if let Some(tenant) = &refusal.tenant {
                count_request(&deps, tenant).await;
            }
            return refusal.into_response();
        }
    };
    // Alongside the work, so it adds no wait; a failed count is logged and the clinician
    // still gets the answer (the agents' usage lines stay the billing record).
    let (result, ()) = tokio::join!(
        forward(&deps, &caller, body),
        count_request(&deps, &caller.tenant)
    );
    result.unwrap_or_else(|e| Refusal::of(&caller.tenant)(e).into_response())
}

async fn forward(deps: &Deps, caller: &Caller, body: Body) -> Result<Response, ProxyError> {
    let tenant = &caller.tenant;
    // The body may be at most the prompt limit plus room for the JSON around it.
    let limit = crate::config::max_body_bytes(deps.config.max_prompt_bytes);
    let body: Bytes =
        axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| ProxyError::PromptTooLarge {
                max: deps.config.max_prompt_bytes,
            })?;
    let parsed: ProxyRequest =
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
            deps.sessions.check(tenant, &id).map_err(|e| match e {
                tenant_context::Error::SessionExpired => ProxyError::SessionExpired,
                _ => ProxyError::SessionNotOwned,
            })?;
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
    let payload = serde_json::to_vec(&InvocationBody {
        prompt: parsed.prompt,
    })
    .map_err(|e| ProxyError::BadBody(e.to_string()))?;
    let url = runtime::invocation_url(&deps.config.runtime_endpoint, arn);
    let session_header = (
        header::HeaderName::from_static(PROXY_SESSION_ID),
        session.to_string(),
    );
    if deps.config.response_mode == ResponseMode::Stream {
        // The agent's events pass through as they come (Lambda response streaming).
        let reply =
            runtime::invoke_streaming(&deps.runtime, &url, &caller.token, &session, payload)
                .await?;
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
        &deps.runtime,
        &url,
        &caller.token,
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
            let e = serde_json::from_str::<ProxyRequest>(bad).expect_err(bad);
            let m = body_error(&e);
            assert!(!m.contains("123456789"), "{bad}: {m}");
        }
    }
}
