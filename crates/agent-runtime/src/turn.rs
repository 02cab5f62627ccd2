//! One invocation's turn, after every check of the HTTP contract passed, as a pipeline of named
//! stages:
//!
//! (guard input ‖ connect tools ‖ recall) → model loop → account → guard output → remember →
//! close
//!
//! The first three run at once: each is a round trip to another service, and none needs
//! another's answer. The model still waits for the input guardrail's verdict: nothing reaches
//! it unchecked, and a blocked prompt ends the turn with the guardrail's message.
//!
//! Each stage either hands the turn on or ends it early with a closing event; whatever happens,
//! exactly one closing event (`final` or `error`) is sent, and the usage line is written once
//! per turn that reached the guardrail (tokens spent are billed, answered or not).

use tenant_context::{MemorySessionId, RuntimeSessionId, TenantContext, UsageEvent};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::agent::{self, Ending, Tokens, Turn};
use crate::deps::Deps;
use crate::error::{InvocationError, Stage};
use crate::events::{AgentEvent, Availability, Outcome, StopReason, UsageSummary};
use crate::guardrail::{Checked, Side};
use crate::memory::{MemoryError, MemorySession, Recall};
use crate::tools::{NoTools, Toolbox};

/// One invocation that passed every check.
pub(crate) struct Invocation<'a> {
    pub deps: &'a Deps,
    pub ctx: &'a TenantContext,
    /// The caller's token, for the Gateway and Memory (each checks it again).
    pub token: &'a str,
    pub prompt: &'a str,
    pub session: &'a RuntimeSessionId,
    pub deadline: Instant,
    pub tx: &'a mpsc::Sender<AgentEvent>,
}

/// How far a turn's optional parts got, for its final event.
#[derive(Debug, Clone, Copy)]
struct Served {
    tools: Availability,
    memory: Availability,
    guardrail: Availability,
}

/// Runs the turn and sends its closing event.
pub(crate) async fn run(inv: Invocation<'_>) {
    let recalled = async {
        tokio::time::timeout_at(inv.deadline, recall(&inv))
            .await
            .ok()
    };
    let (guarded, gateway, recalled) =
        tokio::join!(guard_input(&inv), connect_tools(&inv), recalled);
    let closing = match (guarded, recalled) {
        (Err(closing), _) => closing,
        (Ok(_), None) => {
            account(&inv, Tokens::default()).await;
            InvocationError::DeadlineExceeded(Stage::MemoryRecall).to_event()
        }
        (Ok(guardrail), Some(recalled)) => match &gateway {
            Some(session) => answer(&inv, session, Availability::Used, guardrail, recalled).await,
            None => answer(&inv, &NoTools, Availability::Skipped, guardrail, recalled).await,
        },
    };
    close(&inv, closing).await;
    // After the caller has its answer: closing the MCP session is not on its wait.
    if let Some(session) = gateway {
        session.close().await;
    }
}

/// Stage 1. The prompt passes the guardrail before the model sees it. A blocked prompt's turn
/// ends here, with the guardrail's message as its answer.
async fn guard_input(inv: &Invocation<'_>) -> Result<Availability, AgentEvent> {
    let Some(guardrail) = &inv.deps.guardrail else {
        return Ok(Availability::Off);
    };
    let check = guardrail.check(Side::Prompt, inv.prompt, inv.ctx.clinic_id());
    let Ok(checked) = tokio::time::timeout_at(inv.deadline, check).await else {
        return Err(InvocationError::DeadlineExceeded(Stage::InputGuardrail).to_event());
    };
    match checked {
        Checked::Pass => Ok(Availability::Used),
        Checked::Unchecked => Ok(Availability::Skipped),
        Checked::Refuse => Err(InvocationError::GuardrailUnavailable.to_event()),
        Checked::Intervened(message) => {
            let usage = account(inv, Tokens::default()).await;
            send_answer(inv, &message).await;
            Err(AgentEvent::Final(Outcome {
                stop_reason: StopReason::GuardrailIntervened,
                rounds: 0,
                usage,
                tools: Availability::Off,
                memory: Availability::Off,
                guardrail: Availability::Used,
            }))
        }
    }
}

/// Stage 2. An MCP session on the tier's Gateway as the caller; without one the turn goes on
/// without tools (the model is told so), also when the deadline passes while connecting (the
/// model call then reports the deadline).
async fn connect_tools(inv: &Invocation<'_>) -> Option<crate::tools::GatewaySession> {
    let connect = inv
        .deps
        .gateway
        .connect(inv.token, inv.ctx, inv.deps.verifier.catalog());
    let Ok(connected) = tokio::time::timeout_at(inv.deadline, connect).await else {
        tracing::warn!(stage = %Stage::Tools, clinic_id = %inv.ctx.clinic_id(), "the deadline passed; answering without tools");
        return None;
    };
    match connected {
        Ok(session) => Some(session),
        Err(e) => {
            tracing::warn!(error = %e, clinic_id = %inv.ctx.clinic_id(), "Gateway unavailable; answering without tools");
            None
        }
    }
}

/// Stages 4 to 7, with the tools connected (or not) and memory recalled (or not).
async fn answer<'a, T: Toolbox>(
    inv: &'a Invocation<'_>,
    tools: &T,
    tools_availability: Availability,
    guardrail: Availability,
    (memory, recalled, memory_availability): (Option<MemorySession<'a>>, Recall, Availability),
) -> AgentEvent {
    let deps = inv.deps;
    // Stage 4: the model and the tools, in rounds, under the tier's caps.
    let (tokens, outcome) = agent::run(
        Turn {
            ctx: inv.ctx,
            tier: &deps.config.tier_config,
            recall_rules: &deps.config.recall_rules,
            model: &deps.model,
            tools,
            tools_availability,
            limits: deps.config.limits,
            deadline: inv.deadline,
            history: recalled.turns,
            facts: recalled.facts,
            guardrail: match guardrail {
                Availability::Used => deps.guardrail.as_ref(),
                _ => None,
            },
        },
        inv.prompt,
        inv.tx,
    )
    .await;
    let usage = account(inv, tokens).await;
    let mut ending = match outcome {
        Ok(ending) => ending,
        Err(e) => {
            tracing::warn!(code = %e.code(), clinic_id = %inv.ctx.clinic_id(), "the turn failed");
            return e.to_event();
        }
    };
    let mut served = Served {
        tools: tools_availability,
        memory: memory_availability,
        guardrail,
    };
    served.guardrail = match guard_output(inv, &mut ending, guardrail).await {
        Ok(availability) => availability,
        Err(refusal) => return refusal,
    };
    send_answer(inv, &ending.answer).await;
    if let Some(session) = &memory {
        served.memory = remember(inv, session, &ending)
            .await
            .unwrap_or(served.memory);
    }
    AgentEvent::Final(Outcome {
        stop_reason: ending.stop_reason,
        rounds: ending.rounds,
        usage,
        tools: served.tools,
        memory: served.memory,
        guardrail: served.guardrail,
    })
}

/// Stage 3. Memory for this invocation: the session and what it recalls, or why there is none.
/// A failure is logged (its code and message, no content) and the turn goes on without memory.
async fn recall<'a>(inv: &'a Invocation<'_>) -> (Option<MemorySession<'a>>, Recall, Availability) {
    let Some(memory) = &inv.deps.memory else {
        return (None, Recall::default(), Availability::Off);
    };
    let skipped = |e: MemoryError| {
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
        .recall(
            &inv.deps.config.tier_config,
            &inv.deps.config.recall_rules,
            inv.prompt,
        )
        .await
    {
        Ok(r) => (Some(session), r, Availability::Used),
        Err(e) => skipped(e),
    }
}

/// Stage 5. The turn's usage line, the one place it is written: one top-level JSON object per
/// turn (as the Logs Insights queries read it), also when the model failed, then the clinic's
/// daily counters.
async fn account(inv: &Invocation<'_>, tokens: Tokens) -> UsageSummary {
    let mut line = UsageEvent::new(
        inv.ctx,
        &inv.deps.config.tier_config,
        tokens.input,
        tokens.output,
    );
    line.usage.model_id = inv.deps.model.model_id().to_owned();
    println!("{}", line.to_log_line());
    count_turn(inv, &line.usage).await;
    line.usage
}

/// How long a turn's closing waits for its usage count: a slow or unreachable table must not
/// hold back the caller's answer for long.
const COUNT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Adds the turn to the clinic's day (waiting at most `COUNT_WAIT`). A failure is logged,
/// never the caller's problem: the usage line just printed is the record cost attribution reads.
async fn count_turn(inv: &Invocation<'_>, line: &UsageSummary) {
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

/// Stage 6. The answer passes the guardrail before the caller or memory sees it: a masked or
/// blocked answer is replaced; an unreachable guardrail withholds it on a tier that refuses.
async fn guard_output(
    inv: &Invocation<'_>,
    ending: &mut Ending,
    guardrail: Availability,
) -> Result<Availability, AgentEvent> {
    let (Some(g), Availability::Used) = (&inv.deps.guardrail, guardrail) else {
        return Ok(guardrail);
    };
    if ending.answer.is_empty() {
        return Ok(guardrail);
    }
    let check = g.check(Side::Answer, &ending.answer, inv.ctx.clinic_id());
    let Ok(checked) = tokio::time::timeout_at(inv.deadline, check).await else {
        return Err(InvocationError::DeadlineExceeded(Stage::OutputGuardrail).to_event());
    };
    match checked {
        Checked::Pass => Ok(Availability::Used),
        Checked::Intervened(replacement) => {
            ending.answer = replacement;
            ending.stop_reason = StopReason::GuardrailIntervened;
            Ok(Availability::Used)
        }
        Checked::Unchecked => Ok(Availability::Skipped),
        Checked::Refuse => Err(InvocationError::GuardrailUnavailable.to_event()),
    }
}

/// Stage 7. An answered turn (or one the guardrail replaced) is stored for the next turns;
/// `Some(skipped)` when storing failed, `None` when there was nothing to store. The answer of
/// a turn in which a rule-guarded tool returned content is not stored (see `memory`).
async fn remember(
    inv: &Invocation<'_>,
    memory: &MemorySession<'_>,
    ending: &Ending,
) -> Option<Availability> {
    if !matches!(
        ending.stop_reason,
        StopReason::Answered | StopReason::GuardrailIntervened
    ) {
        return None;
    }
    let store = memory.remember(inv.prompt, &ending.answer, ending.guarded);
    let Ok(stored) = tokio::time::timeout_at(inv.deadline, store).await else {
        tracing::warn!(clinic_id = %inv.ctx.clinic_id(), "the deadline passed: the turn was not stored in memory");
        return Some(Availability::Skipped);
    };
    match stored {
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(error = %e, clinic_id = %inv.ctx.clinic_id(), "the turn was not stored in memory");
            Some(Availability::Skipped)
        }
    }
}

async fn send_answer(inv: &Invocation<'_>, text: &str) {
    if !text.is_empty() {
        let _ = inv
            .tx
            .send(AgentEvent::TextDelta {
                text: text.to_owned(),
            })
            .await;
    }
}

/// Stage 8. The one closing event.
async fn close(inv: &Invocation<'_>, closing: AgentEvent) {
    let _ = inv.tx.send(closing).await;
}
