//! One invocation's turn, after every check of the HTTP contract passed, as a pipeline of named
//! stages:
//!
//! (guard input ‖ connect tools ‖ recall) → model loop, its answer released past the output
//! guardrail in windows (`release`) → account → close →
//! (remember ‖ count)
//!
//! The first three run at once: each is a round trip to another service, and none needs
//! another's answer. The model still waits for the input guardrail's verdict: nothing reaches
//! it unchecked, and a blocked prompt ends the turn with the guardrail's message. The last two
//! run after the caller has its closing event (see `after_answer`).
//!
//! Each stage either hands the turn on or ends it early with a closing event; whatever happens,
//! exactly one closing event (`final` or `error`) is sent, and the usage line is written once
//! per turn that reached the guardrail (tokens spent are billed, answered or not).

use tenant_context::{MemorySessionId, RuntimeSessionId, TenantContext, UsageEvent};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::agent::{self, Ending, Tokens, Turn};
use crate::budget::TurnBudget;
use crate::deps::Deps;
use crate::error::{InvocationError, Stage};
use crate::events::{AgentEvent, Availability, Outcome, StopReason, UsageSummary};
use crate::guardrail::{Checked, Side};
use crate::memory::{MemoryError, MemorySession, Recall};
use crate::tool_sessions::SessionTools;
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
    /// The clinic's budget for this turn (its first call already reserved).
    pub budget: Option<&'a TurnBudget<'a>>,
}

/// How far a turn's optional parts got, for its final event.
#[derive(Debug, Clone, Copy)]
struct Served {
    tools: Availability,
    memory: Availability,
    guardrail: Availability,
}

/// What is left to do once the caller has the closing event.
struct Leftover<'a> {
    /// The turn's usage, to add to the clinic's day.
    usage: Option<UsageSummary>,
    /// The answered turn, to store in memory.
    store: Option<(MemorySession<'a>, Ending)>,
}

/// Why the input guardrail ended a turn.
enum Stopped {
    /// With an error event (deadline, guardrail unavailable on a tier that refuses).
    Error(AgentEvent),
    /// With the guardrail's message as the answer.
    Intervened(String),
}

/// Runs the turn, sends its closing event, then does the work left (see `after_answer`).
pub(crate) async fn run(inv: Invocation<'_>) {
    let mut left = Leftover {
        usage: None,
        store: None,
    };
    let closing = turn(&inv, &mut left).await;
    // Taken before the caller can send the next question, which waits for it in recall.
    let settling = inv.deps.after_answer.begin(inv.session).await;
    close(&inv, closing).await;
    after(&inv, left).await;
    drop(settling);
}

async fn turn<'a>(inv: &'a Invocation<'_>, left: &mut Leftover<'a>) -> AgentEvent {
    let recalled = async {
        tokio::time::timeout_at(inv.deadline, recall(inv))
            .await
            .ok()
    };
    let (guarded, tools, recalled) = tokio::join!(guard_input(inv), connect_tools(inv), recalled);
    let guardrail = match guarded {
        Ok(availability) => availability,
        Err(Stopped::Error(closing)) => return closing,
        Err(Stopped::Intervened(message)) => {
            let usage = account(inv, Tokens::default(), left);
            send_answer(inv, &message).await;
            return AgentEvent::Final(Outcome {
                stop_reason: StopReason::GuardrailIntervened,
                rounds: 0,
                usage,
                tools: Availability::Off,
                memory: Availability::Off,
                guardrail: Availability::Used,
            });
        }
    };
    let Some(recalled) = recalled else {
        account(inv, Tokens::default(), left);
        return InvocationError::DeadlineExceeded(Stage::MemoryRecall).to_event();
    };
    match &tools {
        Some(tools) => answer(inv, tools, Availability::Used, guardrail, recalled, left).await,
        None => {
            answer(
                inv,
                &NoTools,
                Availability::Skipped,
                guardrail,
                recalled,
                left,
            )
            .await
        }
    }
}

/// Stage 1. The prompt passes the guardrail before the model sees it. A blocked prompt's turn
/// ends here, with the guardrail's message as its answer.
async fn guard_input(inv: &Invocation<'_>) -> Result<Availability, Stopped> {
    let Some(guardrail) = &inv.deps.guardrail else {
        return Ok(Availability::Off);
    };
    let check = guardrail.check(Side::Prompt, inv.prompt, inv.ctx.clinic_id());
    let Ok(checked) = tokio::time::timeout_at(inv.deadline, check).await else {
        return Err(Stopped::Error(
            InvocationError::DeadlineExceeded(Stage::InputGuardrail).to_event(),
        ));
    };
    match checked {
        Checked::Pass => Ok(Availability::Used),
        Checked::Unchecked => Ok(Availability::Skipped),
        Checked::Refuse => Err(Stopped::Error(
            InvocationError::GuardrailUnavailable.to_event(),
        )),
        Checked::Intervened(message) => Err(Stopped::Intervened(message)),
    }
}

/// Stage 2. The runtime session's MCP session on the tier's Gateway, kept from its earlier
/// turns or opened now (see `tool_sessions`); without one the turn goes on without tools (the
/// model is told so), also when the deadline passes while connecting (the model call then
/// reports the deadline).
async fn connect_tools<'a>(inv: &'a Invocation<'_>) -> Option<SessionTools<'a>> {
    let connect =
        inv.deps
            .tools
            .tools(inv.session, inv.token, inv.ctx, inv.deps.verifier.catalog());
    let Ok(connected) = tokio::time::timeout_at(inv.deadline, connect).await else {
        tracing::warn!(stage = %Stage::Tools, clinic_id = %inv.ctx.clinic_id(), "the deadline passed; answering without tools");
        return None;
    };
    match connected {
        Ok(tools) => Some(tools),
        Err(e) => {
            tracing::warn!(error = %e, clinic_id = %inv.ctx.clinic_id(), "Gateway unavailable; answering without tools");
            None
        }
    }
}

/// Stages 4 to 6, with the tools connected (or not) and memory recalled (or not). The answer
/// reaches the caller during stage 4, each window of it after the output guardrail (stage 6,
/// in `release`).
async fn answer<'a, T: Toolbox>(
    inv: &'a Invocation<'_>,
    tools: &T,
    tools_availability: Availability,
    guardrail: Availability,
    (memory, recalled, memory_availability): (Option<MemorySession<'a>>, Recall, Availability),
    left: &mut Leftover<'a>,
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
            budget: inv.budget,
            audit: deps.audit.as_ref().map(|log| (log, inv.session)),
        },
        inv.prompt,
        inv.tx,
    )
    .await;
    let usage = account(inv, tokens, left);
    let ending = match outcome {
        Ok(ending) => ending,
        Err(e) => {
            tracing::warn!(code = %e.code(), clinic_id = %inv.ctx.clinic_id(), "the turn failed");
            return e.to_event();
        }
    };
    let served = Served {
        tools: tools_availability,
        memory: memory_availability,
        guardrail: if ending.unchecked {
            Availability::Skipped
        } else {
            guardrail
        },
    };
    let stored = matches!(
        ending.stop_reason,
        StopReason::Answered | StopReason::GuardrailIntervened
    );
    let outcome = Outcome {
        stop_reason: ending.stop_reason,
        rounds: ending.rounds,
        usage,
        tools: served.tools,
        memory: served.memory,
        guardrail: served.guardrail,
    };
    if let (Some(session), true) = (memory, stored) {
        left.store = Some((session, ending));
    }
    AgentEvent::Final(outcome)
}

/// Stage 3. Memory for this invocation: the session and what it recalls, or why there is none.
/// A failure is logged (its code and message, no content) and the turn goes on without memory.
async fn recall<'a>(inv: &'a Invocation<'_>) -> (Option<MemorySession<'a>>, Recall, Availability) {
    let Some(memory) = &inv.deps.memory else {
        return (None, Recall::default(), Availability::Off);
    };
    // The session's previous turn may still be storing itself.
    inv.deps.after_answer.settled(inv.session).await;
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
        Ok(mut r) => {
            // Long-term records reach the model only once their recall is in the audit trail.
            if let Some(log) = &inv.deps.audit
                && !r.record_ids.is_empty()
                && !crate::audit::recalled(log, inv.ctx, inv.session, &r.record_ids).await
            {
                r.facts.clear();
                r.record_ids.clear();
            }
            (Some(session), r, Availability::Used)
        }
        Err(e) => skipped(e),
    }
}

/// Stage 5. The turn's usage line, the one place it is written: one top-level JSON object per
/// turn (as the Logs Insights queries read it), also when the model failed. The clinic's daily
/// counters are added to after the answer.
fn account(inv: &Invocation<'_>, tokens: Tokens, left: &mut Leftover<'_>) -> UsageSummary {
    let mut line = UsageEvent::new(
        inv.ctx,
        &inv.deps.config.tier_config,
        tokens.input,
        tokens.output,
    );
    line.usage.model_id = inv.deps.model.model_id().to_owned();
    println!("{}", line.to_log_line());
    left.usage = Some(line.usage.clone());
    line.usage
}

/// After the answer: the turn stored for the next turns, and its tokens added to the clinic's
/// day, at once, each within `after_answer::LIMIT`. The answer of a turn in which a
/// rule-guarded tool returned content is stored withheld (see `memory`).
async fn after(inv: &Invocation<'_>, left: Leftover<'_>) {
    let (work, clinic) = (&inv.deps.after_answer, inv.ctx.clinic_id());
    let store = async {
        if let Some((memory, ending)) = &left.store {
            let store = memory.remember(inv.prompt, &ending.answer, ending.guarded);
            work.bounded("memory_store", clinic, store).await;
        }
    };
    let count = async {
        if let (Some(meter), Some(usage)) = (&inv.deps.usage, &left.usage) {
            let count = meter.add_turn(
                inv.ctx.tier(),
                clinic,
                usage_meter::utc_today(),
                usage.input_tokens,
                usage.output_tokens,
                usage.estimated_cost,
            );
            work.bounded("usage_count", clinic, count).await;
        }
    };
    let settle = async {
        if let Some(budget) = inv.budget {
            work.bounded("budget_settle", clinic, budget.settle()).await;
        }
    };
    tokio::join!(store, count, settle);
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

/// Stage 7. The one closing event: the caller's stream ends with it.
async fn close(inv: &Invocation<'_>, closing: AgentEvent) {
    let _ = inv.tx.send(closing).await;
}
