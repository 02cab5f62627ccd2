//! The AgentCore Runtime HTTP contract: `GET /ping` and `POST /invocations`.
//!
//! Order of checks on an invocation: the token (401), its tier against this deployment's
//! (403), the session id's owner (403), then the body (400/413). Nothing is sent to the model
//! or the Gateway before all of them pass.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tenant_context::{
    MemorySessionId, RuntimeSessionId, SessionBinder, TenantContext, TokenVerifier, session_log_id,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument as _;

use crate::agent::{self, Turn};
use crate::config::Config;
use crate::error::InvocationError;
use crate::events::{AgentEvent, Availability, JsonReply, StopReason, UsageSummary};
use crate::guardrail::{Guardrail, Verdict};
use crate::memory::{AgentMemory, MemoryError, MemorySession, Recall};
use crate::model::ChatClient;
use crate::tools::{Gateway, NoTools, Toolbox};

pub const SESSION_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-session-id";
pub const REQUEST_ID_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-request-id";

pub struct Deps {
    pub config: Config,
    pub sessions: SessionBinder,
    pub verifier: TokenVerifier,
    pub model: ChatClient,
    pub gateway: Gateway,
    /// `None` when this deployment has no memory configured.
    pub memory: Option<AgentMemory>,
    /// Present exactly when the tier file gives the tier a guardrail.
    pub guardrail: Option<Guardrail>,
    /// The per-clinic daily counters; `None` when the deployment keeps none.
    pub usage: Option<usage_meter::UsageMeter>,
    pub health: Arc<Health>,
}

/// `/ping`'s state: `HealthyBusy` while invocations run, so the runtime keeps the session.
#[derive(Default)]
pub struct Health {
    running: AtomicUsize,
    last_change: AtomicU64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Health {
    pub fn new() -> Self {
        let h = Self::default();
        h.last_change.store(now_secs(), Ordering::Relaxed);
        h
    }

    fn enter(self: &Arc<Self>) -> BusyGuard {
        if self.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.last_change.store(now_secs(), Ordering::Relaxed);
        }
        BusyGuard(self.clone())
    }
}

struct BusyGuard(Arc<Health>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.last_change.store(now_secs(), Ordering::Relaxed);
        }
    }
}

/// Serves the router on `listener` with TCP_NODELAY on every connection: without it, a
/// response written in two parts waits for the caller's delayed ACK (about 40 ms on Linux),
/// which the turn benchmark showed as most of a turn's time.
pub async fn serve(listener: tokio::net::TcpListener, deps: Arc<Deps>) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(deps))
        .with_graceful_shutdown(shutdown())
        .await
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
    let health = &deps.health;
    let status = if health.running.load(Ordering::Acquire) > 0 {
        "HealthyBusy"
    } else {
        "Healthy"
    };
    axum::Json(json!({
        "status": status,
        "time_of_last_update": health.last_change.load(Ordering::Relaxed),
    }))
}

/// What a caller may send: the prompt and nothing else. Tenant, tier, user and role come from
/// the token only; a body that names any of them is refused, not ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvocationBody {
    prompt: String,
}

/// The one `Authorization: Bearer` token; several Authorization headers are refused (two
/// layers could otherwise read different tokens).
fn bearer(headers: &HeaderMap) -> Result<&str, InvocationError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(InvocationError::NoToken)?;
    if values.next().is_some() {
        return Err(InvocationError::NoToken);
    }
    let (scheme, token) = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .ok_or(InvocationError::NoToken)?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
        Ok(token)
    } else {
        Err(InvocationError::NoToken)
    }
}

async fn identify<'h>(
    deps: &Deps,
    headers: &'h HeaderMap,
) -> Result<(TenantContext, RuntimeSessionId, &'h str), InvocationError> {
    let token = bearer(headers)?;
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
    let session = headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| RuntimeSessionId::parse(v).ok())
        .ok_or(InvocationError::BadSessionId)?;
    deps.sessions
        .check(&ctx, &session)
        .map_err(|_| InvocationError::SessionNotOwned)?;
    Ok((ctx, session, token))
}

pub(crate) fn parse_body(body: &[u8], max_prompt_bytes: usize) -> Result<String, InvocationError> {
    // An object only: serde would also take a struct from a JSON array (`["hi"]`).
    let body = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => return Err(InvocationError::BadBody("not a JSON object".into())),
        Err(e) => return Err(InvocationError::BadBody(body_error(&e))),
    };
    let body: InvocationBody =
        serde_json::from_value(body).map_err(|e| InvocationError::BadBody(body_error(&e)))?;
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

/// What was wrong with a body, without any of its values: serde's messages quote them
/// (`invalid type: integer `123``), and a body can hold patient data.
fn body_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => {
            format!("not valid JSON (line {}, column {})", e.line(), e.column())
        }
        _ => r#"expected {"prompt": string} and nothing else"#.to_owned(),
    }
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
        .get(REQUEST_ID_HEADER)
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
    tracing::info!(
        tier = %ctx.tier(),
        clinic_id = %ctx.clinic_id(),
        user_id = %ctx.user(),
        session = %session_log_id(&session),
        request_id = %request_id,
        "invocation"
    );

    // The invocation's root span: the caller's trace (if any) and the tenant baggage, which
    // every span below it carries as attributes.
    let span = tracing::info_span!(
        "invocation",
        otel.name = "invoke_agent",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.request.model = %deps.model.model_id(),
        request_id = %request_id,
    );
    telemetry::traces::adopt(
        &span,
        &parts.headers,
        [
            ("session.id", session_log_id(&session).to_string()),
            ("tier", ctx.tier().to_string()),
            ("clinic_id", ctx.clinic_id().to_string()),
            ("actor_id", ctx.actor_id().as_str().to_owned()),
        ],
    );
    let (tx, rx) = mpsc::channel::<AgentEvent>(64);
    let task = tokio::spawn({
        let deps = deps.clone();
        async move {
            let _busy = busy;
            turn(Invocation {
                deps: &deps,
                ctx: &ctx,
                token: &token,
                prompt: &prompt,
                session: &session,
                deadline,
                tx: &tx,
            })
            .await;
        }
        .instrument(span)
    });
    if wants_stream(&parts.headers) {
        let frames = ReceiverStream::new(rx).map(|e| Ok::<_, Infallible>(Bytes::from(e.to_sse())));
        return (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(frames),
        )
            .into_response();
    }
    let events: Vec<AgentEvent> = ReceiverStream::new(rx).collect().await;
    if task.await.is_err() {
        tracing::error!("the invocation task ended abnormally");
    }
    match JsonReply::collect(events) {
        Ok(reply) => axum::Json(reply).into_response(),
        Err(AgentEvent::Error {
            error,
            message,
            retryable,
            ..
        }) => (
            status_of(error),
            axum::Json(
                json!({"error": {"code": error, "message": message, "retryable": retryable}}),
            ),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The HTTP status of a failure that surfaced as an event (JSON mode).
fn status_of(code: &str) -> StatusCode {
    match code {
        "model_throttled" => StatusCode::TOO_MANY_REQUESTS,
        "model_timeout" => StatusCode::GATEWAY_TIMEOUT,
        "guardrail_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    }
}

fn refuse(e: InvocationError, ctx: Option<&TenantContext>, request_id: &str) -> Response {
    tracing::info!(
        code = e.code(),
        status = e.status().as_u16(),
        tier = ctx.map(|c| tracing::field::display(c.tier())),
        clinic_id = ctx.map(|c| tracing::field::display(c.clinic_id())),
        request_id,
        "invocation refused"
    );
    e.into_response()
}

/// One invocation that passed every check.
struct Invocation<'a> {
    deps: &'a Deps,
    ctx: &'a TenantContext,
    token: &'a str,
    prompt: &'a str,
    session: &'a RuntimeSessionId,
    deadline: Instant,
    tx: &'a mpsc::Sender<AgentEvent>,
}

/// Connects the tools and memory, runs the agent, stores the turn, and closes with the final
/// (or error) event and the usage line. Whatever happens, exactly one closing event is sent.
async fn turn(inv: Invocation<'_>) {
    // The prompt passes the guardrail before anything else sees it.
    let guardrail = match &inv.deps.guardrail {
        None => Availability::Off,
        Some(g) => match g.check_input(inv.prompt).await {
            Ok(Verdict::Pass) => Availability::Used,
            Ok(Verdict::Intervened(message)) => {
                tracing::info!(clinic_id = %inv.ctx.clinic_id(), "guardrail blocked the prompt");
                close_blocked(&inv, message).await;
                return;
            }
            Err(e) if g.fails_closed() => {
                tracing::error!(error = %e, clinic_id = %inv.ctx.clinic_id(), "guardrail unavailable; refusing (fail closed)");
                let _ = inv
                    .tx
                    .send(InvocationError::GuardrailUnavailable.to_event())
                    .await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, clinic_id = %inv.ctx.clinic_id(), "guardrail unavailable; answering unchecked as the tier file allows");
                Availability::Skipped
            }
        },
    };
    let gateway = match inv.deps.gateway.connect(inv.token, inv.ctx).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, clinic_id = %inv.ctx.clinic_id(), "Gateway unavailable; answering without tools");
            None
        }
    };
    match &gateway {
        Some(s) => run_with(&inv, s, Availability::Used, guardrail).await,
        None => run_with(&inv, &NoTools, Availability::Skipped, guardrail).await,
    }
    if let Some(s) = gateway {
        s.close().await;
    }
}

/// Memory for this invocation: the session and what it recalls, or why there is none.
async fn recall<'a>(inv: &'a Invocation<'_>) -> (Option<MemorySession<'a>>, Recall, Availability) {
    let Some(memory) = &inv.deps.memory else {
        return (None, Recall::default(), Availability::Off);
    };
    let skipped = |e: MemoryError| {
        // Served without memory; the failure is logged (its code and message, no content).
        tracing::warn!(error = %e, clinic_id = %inv.ctx.clinic_id(), "memory unavailable; answering without it");
        (None, Recall::default(), Availability::Skipped)
    };
    let session = match memory
        .open(
            inv.token,
            inv.ctx,
            MemorySessionId::from_runtime(inv.session),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return skipped(e),
    };
    match session
        .recall(&inv.deps.config.tier_config, inv.prompt)
        .await
    {
        Ok(r) => (Some(session), r, Availability::Used),
        Err(e) => skipped(e),
    }
}

/// How long a turn's closing waits for its usage count: a slow or unreachable table must not
/// hold back the caller's answer for long.
const COUNT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Adds the turn to the clinic's day (waiting at most `COUNT_WAIT`). A failure is logged,
/// never the caller's problem: the usage line just printed is the record cost attribution reads.
async fn count_turn(inv: &Invocation<'_>, line: &tenant_context::UsageEvent) {
    let Some(meter) = &inv.deps.usage else { return };
    let count = meter.add_turn(
        inv.ctx.tier(),
        inv.ctx.clinic_id(),
        usage_meter::utc_today(),
        line.input_tokens,
        line.output_tokens,
        line.estimated_cost,
    );
    let failure = match tokio::time::timeout(COUNT_WAIT, count).await {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", COUNT_WAIT.as_secs()),
    };
    tracing::warn!(error = %failure, clinic_id = %inv.ctx.clinic_id(), "usage count failed");
}

/// A prompt the guardrail blocked: its message is the answer; no model, tool or memory call.
async fn close_blocked(inv: &Invocation<'_>, message: String) {
    let tier = &inv.deps.config.tier_config;
    let mut line = tenant_context::UsageEvent::new(inv.ctx, tier, 0, 0);
    line.model_id = inv.deps.model.model_id().to_owned();
    println!("{}", line.to_log_line());
    count_turn(inv, &line).await;
    let _ = inv.tx.send(AgentEvent::TextDelta { text: message }).await;
    let _ = inv
        .tx
        .send(AgentEvent::Final {
            stop_reason: StopReason::GuardrailIntervened,
            rounds: 0,
            usage: UsageSummary::from(&line),
            tools: Availability::Off,
            memory: Availability::Off,
            guardrail: Availability::Used,
        })
        .await;
}

async fn run_with<T: Toolbox>(
    inv: &Invocation<'_>,
    tools: &T,
    tools_availability: Availability,
    mut guardrail: Availability,
) {
    let deps = inv.deps;
    let tier = &deps.config.tier_config;
    let (memory, recalled, mut memory_availability) = recall(inv).await;
    let (tokens, outcome) = agent::run(
        Turn {
            ctx: inv.ctx,
            tier,
            model: &deps.model,
            tools,
            tools_availability,
            limits: deps.config.limits,
            deadline: inv.deadline,
            history: recalled.turns,
            facts: recalled.facts,
        },
        inv.prompt,
        inv.tx,
    )
    .await;
    // The per-clinic cost line (one top-level JSON object, as the Logs Insights queries read
    // it), also when the turn failed: tokens spent are billed either way.
    let mut line = tenant_context::UsageEvent::new(inv.ctx, tier, tokens.input, tokens.output);
    line.model_id = deps.model.model_id().to_owned();
    println!("{}", line.to_log_line());
    count_turn(inv, &line).await;
    let usage = UsageSummary::from(&line);
    let closing = match outcome {
        Ok(mut ending) => {
            // The answer passes the guardrail before the caller or memory sees it.
            if let (Some(g), Availability::Used) = (&deps.guardrail, guardrail)
                && !ending.answer.is_empty()
            {
                match g.check_output(&ending.answer).await {
                    Ok(Verdict::Pass) => {}
                    Ok(Verdict::Intervened(replacement)) => {
                        tracing::info!(clinic_id = %inv.ctx.clinic_id(), "guardrail changed the answer");
                        ending.answer = replacement;
                        ending.stop_reason = StopReason::GuardrailIntervened;
                    }
                    Err(e) if g.fails_closed() => {
                        tracing::error!(error = %e, clinic_id = %inv.ctx.clinic_id(), "guardrail unavailable; answer withheld (fail closed)");
                        let _ = inv
                            .tx
                            .send(InvocationError::GuardrailUnavailable.to_event())
                            .await;
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, clinic_id = %inv.ctx.clinic_id(), "guardrail unavailable; answer sent unchecked as the tier file allows");
                        guardrail = Availability::Skipped;
                    }
                }
            }
            if !ending.answer.is_empty() {
                let _ = inv
                    .tx
                    .send(AgentEvent::TextDelta {
                        text: ending.answer.clone(),
                    })
                    .await;
            }
            if let Some(m) = &memory
                && matches!(
                    ending.stop_reason,
                    StopReason::Answered | StopReason::GuardrailIntervened
                )
                && let Err(e) = m.remember(inv.prompt, &ending.answer).await
            {
                tracing::warn!(error = %e, clinic_id = %inv.ctx.clinic_id(), "the turn was not stored in memory");
                memory_availability = Availability::Skipped;
            }
            AgentEvent::Final {
                stop_reason: ending.stop_reason,
                rounds: ending.rounds,
                usage,
                tools: tools_availability,
                memory: memory_availability,
                guardrail,
            }
        }
        Err(e) => {
            tracing::warn!(code = e.code(), clinic_id = %inv.ctx.clinic_id(), "model call failed");
            InvocationError::Model(e).to_event()
        }
    };
    let _ = inv.tx.send(closing).await;
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

    #[test]
    fn exactly_one_bearer_token() {
        let mut h = HeaderMap::new();
        assert!(bearer(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), "abc");
        h.append(header::AUTHORIZATION, "Bearer def".parse().unwrap());
        assert!(bearer(&h).is_err());
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer(&h).is_err());
    }
}
