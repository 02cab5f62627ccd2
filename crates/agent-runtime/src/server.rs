//! The AgentCore Runtime HTTP contract: `GET /ping` and `POST /invocations`.
//!
//! Order of checks on an invocation: the token (401), its tier against this deployment's
//! (403), the session id's owner (403), then the body (400/413). Nothing is sent to the model
//! or the Gateway before all of them pass.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use contracts::agent_error::ErrorReply;
use contracts::invocation::{INVOCATION_BODY_SHAPE, describe_refusal};
use contracts::{AgentErrorCode, InvocationBody, headers, runtime_id_token};
use serde_json::json;
use tenant_context::{RuntimeSessionId, TenantContext, session_log_id};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::StreamExt as _;
use tracing::Instrument as _;

use usage_meter::budget::Reservation;

use crate::budget::{TurnBudget, first_call_estimate};
use crate::deps::Deps;
use crate::error::InvocationError;
use crate::events::{AgentEvent, JsonReply};
use crate::turn::{self, Invocation};

/// Serves the router on `listener` with TCP_NODELAY on every connection: without it, a
/// response written in two parts waits for the caller's delayed ACK (about 40 ms on Linux),
/// which the turn benchmark showed as most of a turn's time.
pub async fn serve(listener: tokio::net::TcpListener, deps: Arc<Deps>) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let health = deps.health.clone();
    let served = axum::serve(listener, router(deps))
        .with_graceful_shutdown(shutdown())
        .await;
    // Work after the last answers (memory, usage counts) ends before the process does.
    health
        .idle_within(crate::after_answer::LIMIT + std::time::Duration::from_secs(1))
        .await;
    served
}

/// SIGTERM (how AgentCore and containers stop a process) or Ctrl-C.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub fn router(deps: Arc<Deps>) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/invocations", post(invocations))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": {"code": "not_found", "message": "not found"}})),
            )
        })
        .with_state(deps)
}

async fn ping(State(deps): State<Arc<Deps>>) -> impl IntoResponse {
    let (status, since) = deps.health.status();
    axum::Json(json!({
        "status": status,
        "time_of_last_update": since,
    }))
}

/// The caller, its runtime session and its token, each checked: the token verified here (the
/// Runtime authorizes only the proxy's signature), its tier this runtime's, the session its
/// user's.
async fn identify<'h>(
    deps: &Deps,
    headers: &'h HeaderMap,
) -> Result<(TenantContext, RuntimeSessionId, &'h str), InvocationError> {
    let token = runtime_id_token(headers).map_err(|_| InvocationError::NoToken)?;
    let ctx = deps
        .verifier
        .verify(token)
        .await
        .map_err(|e| {
            if e.is_identity_rejection() {
                InvocationError::BadToken(e)
            } else {
                InvocationError::IdentityUnavailable(e)
            }
        })?
        .context;
    if ctx.tier() != &deps.config.tier {
        return Err(InvocationError::WrongTier);
    }
    // Exactly one session id: with two, which one a layer in front of us routed by is unknown.
    let session = headers::at_most_one(headers, headers::RUNTIME_SESSION_ID)
        .ok()
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| RuntimeSessionId::parse(v).ok())
        .ok_or(InvocationError::BadSessionId)?;
    deps.sessions.check(&ctx, &session).map_err(|e| match e {
        tenant_context::Error::SessionExpired => InvocationError::SessionExpired,
        _ => InvocationError::SessionNotOwned,
    })?;
    Ok((ctx, session, token))
}

/// The prompt of an [`InvocationBody`]: a JSON object naming the prompt and nothing else.
pub(crate) fn parse_body(body: &[u8], max_prompt_bytes: usize) -> Result<String, InvocationError> {
    let refused = |e: &serde_json::Error| {
        InvocationError::BadBody(describe_refusal(e, INVOCATION_BODY_SHAPE))
    };
    // An object only: serde would also take a struct from a JSON array (`["hi"]`).
    let body = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => return Err(InvocationError::BadBody("not a JSON object".into())),
        Err(e) => return Err(refused(&e)),
    };
    let body: InvocationBody = serde_json::from_value(body).map_err(|e| refused(&e))?;
    if body.prompt.trim().is_empty() {
        return Err(InvocationError::EmptyPrompt);
    }
    if body.prompt.len() > max_prompt_bytes {
        return Err(InvocationError::PromptTooLarge {
            max: max_prompt_bytes,
        });
    }
    Ok(body.prompt)
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

async fn invocations(State(deps): State<Arc<Deps>>, req: Request) -> Response {
    let busy = deps.health.enter();
    let deadline = Instant::now() + deps.config.limits.deadline;
    let (parts, body) = req.into_parts();
    let request_id = parts
        .headers
        .get(headers::RUNTIME_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let (ctx, session, token) = match identify(&deps, &parts.headers).await {
        // The token again, for the Gateway (its authorizer and the tool target check it too).
        Ok((ctx, session, token)) => (ctx, session, token.to_owned()),
        Err(e) => return refuse(e, None, &request_id),
    };
    let limit = deps.config.limits.max_prompt_bytes + 1024;
    let prompt = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => parse_body(&bytes, deps.config.limits.max_prompt_bytes),
        Err(_) => Err(InvocationError::PromptTooLarge {
            max: deps.config.limits.max_prompt_bytes,
        }),
    };
    let prompt = match prompt {
        Ok(p) => p,
        Err(e) => return refuse(e, Some(&ctx), &request_id),
    };
    // Both before the turn, neither needing the other's answer: one round trip of wait. A
    // refused clinic's turn may still be counted against its user's minute; nothing else.
    // The clinic's budget takes the first model call's estimate once the clinic is known to
    // be served (the registry answer is usually cached): a clinic over budget is refused here,
    // with the time it starts again, before any reply starts.
    let served_and_reserved = async {
        let own_budget = served(&deps, &ctx).await?;
        let first = reserve_first(&deps, &ctx, own_budget, &prompt).await?;
        Ok::<_, InvocationError>((own_budget, first))
    };
    let (reserved, admitted) = tokio::join!(served_and_reserved, admit(&deps, &ctx));
    let (own_budget, first) = match (reserved, admitted) {
        (Ok(reserved), Ok(())) => reserved,
        (Err(e), _) => return refuse(e, Some(&ctx), &request_id),
        (Ok((_, first)), Err(e)) => {
            // A reservation made for a turn refused anyway is given back.
            if let (Some(r), Some(budgets)) = (&first, &deps.budgets)
                && let Err(e) = budgets.settle(r, 0).await
            {
                tracing::warn!(error = %e, clinic_id = %ctx.clinic_id(), "a budget reservation could not be given back");
            }
            return refuse(e, Some(&ctx), &request_id);
        }
    };
    tracing::info!(
        tier = %ctx.tier(),
        clinic_id = %ctx.clinic_id(),
        user_id = %ctx.user(),
        session = %session_log_id(&session),
        request_id = %request_id,
        "invocation"
    );
    let span = invocation_span(&deps, &parts.headers, &ctx, &session, &request_id);
    let (tx, rx) = mpsc::channel::<AgentEvent>(64);
    let task = tokio::spawn({
        let deps = deps.clone();
        async move {
            // Held until the after-answer work ends too: `/ping` says HealthyBusy till then.
            let _busy = busy;
            let budget = deps
                .budgets
                .as_ref()
                .map(|b| TurnBudget::new(b, &ctx, own_budget, first));
            turn::run(Invocation {
                deps: &deps,
                ctx: &ctx,
                token: &token,
                prompt: &prompt,
                session: &session,
                deadline,
                tx: &tx,
                budget: budget.as_ref(),
            })
            .await;
        }
        .instrument(span)
    });
    tokio::spawn(async move {
        if task.await.is_err() {
            tracing::error!("the invocation task ended abnormally");
        }
    });
    // The caller's reply ends with the closing event; the turn's work after it goes on.
    let events = until_closing(rx);
    if wants_stream(&parts.headers) {
        let frames = events.map(|e| Ok::<_, Infallible>(Bytes::from(e.to_sse())));
        return (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(frames),
        )
            .into_response();
    }
    let events: Vec<AgentEvent> = events.collect().await;
    match JsonReply::collect(events) {
        Ok(reply) => axum::Json(reply).into_response(),
        Err(AgentEvent::Error { error, message, .. }) => {
            (error.status(), axum::Json(ErrorReply::new(error, message))).into_response()
        }
        Err(_) => AgentErrorCode::Internal.status().into_response(),
    }
}

/// The turn's events up to and including its closing event (`final` or `error`); the stream
/// ends right after that one, without waiting for the channel to close.
fn until_closing(rx: mpsc::Receiver<AgentEvent>) -> impl tokio_stream::Stream<Item = AgentEvent> {
    futures::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        let event = rx.recv().await?;
        let rest = (!event.is_closing()).then_some(rx);
        Some((event, rest))
    })
}

/// The invocation's root span: the caller's trace (if any) and the tenant baggage, which every
/// span below it carries as attributes.
fn invocation_span(
    deps: &Deps,
    headers: &HeaderMap,
    ctx: &TenantContext,
    session: &RuntimeSessionId,
    request_id: &str,
) -> tracing::Span {
    let span = tracing::info_span!(
        "invocation",
        otel.name = "invoke_agent",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.request.model = %deps.model.model_id(),
        request_id = %request_id,
    );
    telemetry::traces::adopt(
        &span,
        headers,
        [
            ("session.id", session_log_id(session).to_string()),
            ("tier", ctx.tier().to_string()),
            ("clinic_id", ctx.clinic_id().to_string()),
            ("actor_id", ctx.actor_id().as_str().to_owned()),
        ],
    );
    span
}

/// The caller's clinic must be served now: a suspension ends invocations here within the
/// registry cache's lifetime, not only at the front door. An unreadable registry refuses the
/// turn (fail closed), as at the tool target.
/// The clinic's own token budget comes with the answer (`None`: its tier's).
async fn served(
    deps: &Deps,
    ctx: &TenantContext,
) -> Result<Option<tenant_context::TokenBudget>, InvocationError> {
    match &deps.served {
        Some(served) => served
            .served(ctx.clinic_id(), ctx.tier())
            .await
            .map_err(InvocationError::NotServed),
        None => Ok(None),
    }
}

/// The per-user turn limit, a second line behind the usage plans (only request-proxy can invoke
/// a runtime, so every turn has passed its clinic's plan). The count is shared by every microVM;
/// when the table cannot be written the turn goes on (the plans still bound the clinic) and
/// the failure is logged: an outage of the counter is not a reason to stop answering.
async fn admit(deps: &Deps, ctx: &TenantContext) -> Result<(), InvocationError> {
    let Some(limit) = &deps.turn_limit else {
        return Ok(());
    };
    match limit.admit_now(ctx.clinic_id(), ctx.user()).await {
        Ok(usage_meter::turn_limit::Admission::Admitted) => Ok(()),
        Ok(usage_meter::turn_limit::Admission::Limited { retry_after_secs }) => {
            Err(InvocationError::UserRateLimited { retry_after_secs })
        }
        Err(e) => {
            tracing::warn!(error = %e, clinic_id = %ctx.clinic_id(), "the turn limit could not be counted; the turn goes on");
            Ok(())
        }
    }
}

/// The first model call's reservation (see `budget`); `None` without budgets, or when the
/// store could not be reached (the turn goes on, logged).
async fn reserve_first(
    deps: &Deps,
    ctx: &TenantContext,
    own_budget: Option<tenant_context::TokenBudget>,
    prompt: &str,
) -> Result<Option<Reservation>, InvocationError> {
    let Some(budgets) = &deps.budgets else {
        return Ok(None);
    };
    let estimate = first_call_estimate(prompt, deps.config.limits.max_output_tokens);
    budgets.reserve(ctx, own_budget, estimate).await
}

fn refuse(e: InvocationError, ctx: Option<&TenantContext>, request_id: &str) -> Response {
    tracing::info!(
        code = %e.code(),
        status = e.code().status().as_u16(),
        tier = ctx.map(|c| tracing::field::display(c.tier())),
        clinic_id = ctx.map(|c| tracing::field::display(c.clinic_id())),
        request_id,
        "invocation refused"
    );
    e.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_names_the_prompt_and_nothing_else() {
        assert_eq!(parse_body(br#"{"prompt":"hi"}"#, 100).unwrap(), "hi");
        for bad in [
            r#"{"prompt":"hi","clinic_id":"clinic-b"}"#,
            r#"{"prompt":"hi","tier":"premium"}"#,
            r#"{"prompt":"hi","user_id":"u"}"#,
            r#"{"prompt":"hi","role":"admin"}"#,
            r#"{"prompt":1}"#,
            r#"{}"#,
            r#"["hi"]"#,
            "not json",
        ] {
            assert!(
                matches!(
                    parse_body(bad.as_bytes(), 100),
                    Err(InvocationError::BadBody(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_body(br#"{"prompt":"  "}"#, 100),
            Err(InvocationError::EmptyPrompt)
        ));
        assert!(matches!(
            parse_body(br#"{"prompt":"0123456789"}"#, 5),
            Err(InvocationError::PromptTooLarge { .. })
        ));
    }

    #[test]
    fn a_refused_body_is_described_without_its_values() {
        for bad in [
            r#"{"prompt": 123456789}"#,
            r#"{"prompt": "hi", "patient_123456789": 1}"#,
            r#"{"prompt": ["123456789"]}"#,
        ] {
            match parse_body(bad.as_bytes(), 100) {
                Err(InvocationError::BadBody(m)) => assert!(!m.contains("123456789"), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
