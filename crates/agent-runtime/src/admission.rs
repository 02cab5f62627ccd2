//! Whether a verified caller's turn is taken: its clinic served on this tier (the registry,
//! fail closed), then its user's turn limit and its clinic's token budget (the first model
//! call's reservation), both in the usage table.
//!
//! The served check comes first and alone: its answer is usually cached, it carries the
//! clinic's own budget, and a suspended clinic's turn must start nothing. The turn limit and
//! the reservation are each a DynamoDB write; they run beside each other and beside the turn's
//! first stage (see `turn`), and the caller's reply starts only once both took the turn.

use tenant_context::{TenantContext, TokenBudget};
use usage_meter::budget::Reservation;

use crate::budget::first_call_estimate;
use crate::deps::Deps;
use crate::error::InvocationError;

/// The caller's clinic must be served now: a suspension ends invocations here within the
/// registry cache's lifetime, not only at the front door. An unreadable registry refuses the
/// turn (fail closed), as at the tool target. The clinic's own token budget comes with the
/// answer (`None`: its tier's).
pub(crate) async fn served(
    deps: &Deps,
    ctx: &TenantContext,
) -> Result<Option<TokenBudget>, InvocationError> {
    match &deps.served {
        Some(served) => served
            .served(ctx.clinic_id(), ctx.tier())
            .await
            .map_err(InvocationError::NotServed),
        None => Ok(None),
    }
}

/// The turn limit and the first model call's reservation, at once. Taken: the reservation
/// (`None` without budgets or when the store could not be reached). Refused by the turn limit:
/// a reservation made meanwhile is given back. A refused turn may still be counted against its
/// user's minute; nothing else.
pub(crate) async fn take_turn(
    deps: &Deps,
    ctx: &TenantContext,
    own_budget: Option<TokenBudget>,
    prompt: &str,
) -> Result<Option<Reservation>, InvocationError> {
    let (reserved, limited) = tokio::join!(
        reserve_first(deps, ctx, own_budget, prompt),
        turn_limit(deps, ctx)
    );
    match (reserved, limited) {
        (Ok(first), Ok(())) => Ok(first),
        (Err(e), _) => Err(e),
        (Ok(first), Err(e)) => {
            give_back(deps, ctx, first.as_ref()).await;
            Err(e)
        }
    }
}

/// Gives back a first reservation whose turn does not go ahead (refused, or its caller gone).
pub(crate) async fn give_back(deps: &Deps, ctx: &TenantContext, first: Option<&Reservation>) {
    if let (Some(r), Some(budgets)) = (first, &deps.budgets)
        && let Err(e) = budgets.settle(r, 0).await
    {
        tracing::warn!(error = %e, clinic_id = %ctx.clinic_id(), "a budget reservation could not be given back");
    }
}

/// The per-user turn limit, a second line behind the usage plans (only request-proxy can invoke
/// a runtime, so every turn has passed its clinic's plan). The count is shared by every microVM;
/// when the table cannot be written the turn goes on (the plans still bound the clinic) and
/// the failure is logged: an outage of the counter is not a reason to stop answering.
async fn turn_limit(deps: &Deps, ctx: &TenantContext) -> Result<(), InvocationError> {
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
/// store could not be reached (the turn goes on, logged). The clinic over budget is refused
/// with the time its budget starts again, before any reply starts.
async fn reserve_first(
    deps: &Deps,
    ctx: &TenantContext,
    own_budget: Option<TokenBudget>,
    prompt: &str,
) -> Result<Option<Reservation>, InvocationError> {
    let Some(budgets) = &deps.budgets else {
        return Ok(None);
    };
    let estimate = first_call_estimate(prompt, deps.config.limits.max_output_tokens);
    budgets.reserve(ctx, own_budget, estimate).await
}
