//! The AgentCore Runtime HTTP contract: `GET /ping` and `POST /invocations`.
//!
//! Order of checks on an invocation: the token (401), its tier against this deployment's
//! (403), the session id's owner (403), then the body (400/413), then the clinic served on
//! this tier (403/503, see `admission`). Nothing is sent to the model, the Gateway, Memory or
//! the guardrail before all of them pass. The turn limit (429) and the token budget (429) are
//! decided beside the turn's first stage, before the model is called and before the reply
//! starts.

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
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_stream::StreamExt as _;
use tracing::Instrument as _;

use crate::admission;
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
    // Alone and first (usually cached): a suspended clinic's turn starts nothing.
    let own_budget = match admission::served(&deps, &ctx).await {
        Ok(b) => b,
        Err(e) => return refuse(e, Some(&ctx), &request_id),
    };
    let span = invocation_span(&deps, &parts.headers, &ctx, &session, &request_id);
    let session_id = session_log_id(&session);
    let (tx, rx) = mpsc::channel::<AgentEvent>(64);
    let (taken_tx, taken) = oneshot::channel();
    // The turn limit and the budget's first reservation run inside the turn, beside its first
    // stage (see `turn`); the reply starts once they took the turn, and a refusal is this
    // request's status (429 with the reset time), not an error at the end of a stream.
    let task = tokio::spawn({
        let deps = deps.clone();
        let ctx = ctx.clone();
        async move {
            // Held until the after-answer work ends too: `/ping` says HealthyBusy till then.
            let _busy = busy;
            let admission = admission::take_turn(&deps, &ctx, own_budget, &prompt);
            turn::run(
                Invocation {
                    deps: &deps,
                    ctx: &ctx,
                    token: &token,
                    prompt: &prompt,
                    session: &session,
                    deadline,
                    tx: &tx,
                },
                turn::Admission {
                    take: admission,
                    own_budget,
                    taken: taken_tx,
                },
            )
            .await;
        }
        .instrument(span)
    });
    tokio::spawn(async move {
        if task.await.is_err() {
            tracing::error!("the invocation task ended abnormally");
        }
    });
    match taken.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return refuse(e, Some(&ctx), &request_id),
        Err(_) => return AgentErrorCode::Internal.status().into_response(),
    }
    tracing::info!(
        tier = %ctx.tier(),
        clinic_id = %ctx.clinic_id(),
        user_id = %ctx.user(),
        session = %session_id,
        request_id = %request_id,
        "invocation"
    );
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
