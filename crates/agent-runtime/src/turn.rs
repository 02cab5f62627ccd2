//! One invocation's turn, after every check of the HTTP contract passed, as a pipeline of named
//! stages:
//!
//! (take the turn ‖ guard input ‖ connect tools ‖ recall) → model loop, its answer released
//! past the output guardrail in windows (`release`) → account → close → (remember ‖ count)
//!
//! The first four run at once: each is a round trip to another service, and none needs
//! another's answer. Taking the turn is the user's turn limit and the clinic's first budget
//! reservation (`admission`); the caller's reply starts only once it is taken, and a refused
//! turn ends there, its other first-stage work dropped: the model is never called and nothing
//! reaches the caller but the refusal. What a refused turn may have done meanwhile is only
//! what precedes the model on every turn: one input check, one recall (and its audit event,
//! written before the verdict was known: the trail errs towards recording), the session's
//! MCP connection. The model still waits for the input guardrail's verdict: nothing reaches it
//! unchecked, and a blocked prompt ends the turn with the guardrail's message. The last two
//! run after the caller has its closing event (see `after_answer`).
//!
//! Each stage either hands the turn on or ends it early with a closing event; whatever happens,
//! exactly one closing event (`final` or `error`) is sent once the turn is taken, and the usage
//! line is written once per taken turn that reached the guardrail (tokens spent are billed,
//! answered or not).

use tenant_context::{MemorySessionId, RuntimeSessionId, TenantContext, UsageEvent};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use usage_meter::budget::Reservation;

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
}

/// Taking the turn (`admission::take_turn`), and where its verdict goes: the request waits for
/// it before its reply starts.
pub(crate) struct Admission<F> {
    /// The turn limit and the first model call's reservation.
    pub take: F,
    /// The clinic's own budget (`None`: its tier's), from the registry.
    pub own_budget: Option<tenant_context::TokenBudget>,
    pub taken: oneshot::Sender<Result<(), InvocationError>>,
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

/// Takes the turn beside its first stage, then runs it, sends its closing event and does the
/// work left (see `after_answer`). A refused turn sends its refusal and nothing else.
pub(crate) async fn run<F>(inv: Invocation<'_>, admission: Admission<F>)
where
    F: Future<Output = Result<Option<Reservation>, InvocationError>>,
{
    let first_stage = first_stage(&inv);
    let take = admission.take;
    tokio::pin!(first_stage, take);
    let mut staged = None;
    // The verdict goes to the request as soon as it is known, whatever the first stage does.
    let taken = loop {
        tokio::select! {
            taken = &mut take => break taken,
            done = &mut first_stage, if staged.is_none() => staged = Some(done),
        }
    };
    let first = match taken {
        Ok(first) => first,
        Err(e) => {
            let _ = admission.taken.send(Err(e));
            return;
        }
    };
    if admission.taken.send(Ok(())).is_err() {
        // The request is gone (its caller hung up): nobody would read the answer.
        crate::admission::give_back(inv.deps, inv.ctx, first.as_ref()).await;
        return;
    }
    let staged = match staged {
        Some(done) => done,
        None => first_stage.await,
    };
    let budget = inv
        .deps
        .budgets
        .as_ref()
        .map(|b| TurnBudget::new(b, inv.ctx, admission.own_budget, first));
    let mut left = Leftover {
        usage: None,
        store: None,
    };
    let closing = turn(&inv, staged, budget.as_ref(), &mut left).await;
    // Taken before the caller can send the next question, which waits for it in recall.
    let settling = inv.deps.after_answer.begin(inv.session).await;
    close(&inv, closing).await;
    after(&inv, budget.as_ref(), left).await;
    drop(settling);
}

/// What the first stage found: the input check's verdict, the tools, what memory recalled
/// (`None`: the deadline passed while recalling).
type Staged<'a> = (
    Result<Availability, Stopped>,
    Option<SessionTools<'a>>,
    Option<(Option<MemorySession<'a>>, Recall, Availability)>,
);

/// Stages 1 to 3 at once.
async fn first_stage<'a>(inv: &'a Invocation<'_>) -> Staged<'a> {
    let recalled = async {
        tokio::time::timeout_at(inv.deadline, recall(inv))
            .await
            .ok()
    };
    tokio::join!(guard_input(inv), connect_tools(inv), recalled)
}

async fn turn<'a>(
    inv: &'a Invocation<'_>,
    (guarded, tools, recalled): Staged<'a>,
    budget: Option<&'a TurnBudget<'a>>,
    left: &mut Leftover<'a>,
) -> AgentEvent {
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
    let served = (guardrail, recalled, budget);
    match &tools {
        Some(tools) => answer(inv, tools, Availability::Used, served, left).await,
        None => answer(inv, &NoTools, Availability::Skipped, served, left).await,
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
    (guardrail, (memory, recalled, memory_availability), budget): (
        Availability,
        (Option<MemorySession<'a>>, Recall, Availability),
        Option<&'a TurnBudget<'a>>,
    ),
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
            budget,
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
async fn after(inv: &Invocation<'_>, budget: Option<&TurnBudget<'_>>, left: Leftover<'_>) {
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
        if let Some(budget) = budget {
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
