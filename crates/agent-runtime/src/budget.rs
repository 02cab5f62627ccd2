//! The clinic's token budget, reserved before each model call and settled after it
//! (`usage_meter::budget` holds the counts). The first call's reservation is taken before the
//! caller's reply starts, so a clinic over budget gets a 429 `budget_exhausted` with the reset
//! time, not a stream that ends in an error; a later round refused mid-turn ends the turn
//! with the same code as its closing event.
//!
//! A store that cannot be reached does not stop answering: the tier's usage plan still bounds
//! the clinic's requests, and the failure is logged for the provider (the same choice as the
//! per-user turn limit). Identity never depends on this table.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenant_context::{TenantContext, TokenBudget};
use usage_meter::budget::{BudgetAlert, Reservation, Reserve, TokenBudgets};

use crate::error::InvocationError;
use crate::model::Message;
use crate::model::ToolSpec;

/// Room for what the first call carries besides the prompt (system prompt, memory, earlier
/// turns, tool schemas) before memory has been read: the first reservation is taken before.
pub const FIRST_CALL_CONTEXT_TOKENS: u64 = 4_000;
/// A conservative reading of the tokenizers: fewer characters per token than English text
/// averages, so an estimate errs high.
const CHARS_PER_TOKEN: u64 = 3;

/// Tokens `chars` characters of text may take, rounded up.
pub fn tokens_of_chars(chars: usize) -> u64 {
    (chars as u64).div_ceil(CHARS_PER_TOKEN)
}

/// The estimate for the turn's first model call, from the prompt alone.
pub fn first_call_estimate(prompt: &str, max_output_tokens: u32) -> u64 {
    tokens_of_chars(prompt.chars().count())
        + FIRST_CALL_CONTEXT_TOKENS
        + u64::from(max_output_tokens)
}

/// The estimate for a model call with these messages and tools: the whole input, read
/// conservatively, plus the call's output cap.
pub fn call_estimate(messages: &[Message], tools: &[ToolSpec], max_output_tokens: u32) -> u64 {
    let chars: usize = messages
        .iter()
        .map(|m| {
            m.content.as_deref().map_or(0, |c| c.chars().count())
                + m.tool_calls
                    .iter()
                    .map(|c| c.function.name.len() + c.function.arguments.chars().count())
                    .sum::<usize>()
        })
        .sum::<usize>()
        + if tools.is_empty() {
            0
        } else {
            serde_json::to_string(tools).map_or(0, |t| t.chars().count())
        };
    tokens_of_chars(chars) + u64::from(max_output_tokens)
}

/// Where budget alerts go. The deployment sends them to SNS; tests collect them.
pub trait AlertSink: Send + Sync {
    fn send<'a>(
        &'a self,
        alert: &'a BudgetAlert,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Budget alerts published to an SNS topic (the provider subscribes e-mail, a queue or a
/// function). The message is the alert as JSON; the clinic, period and percent are also
/// message attributes, so a subscription can filter by them. No patient data is in it.
pub struct SnsAlerts {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlerts {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }
}

/// The name of a published alert (`event` in its message).
pub const BUDGET_ALERT_EVENT: &str = "tenantry_budget_alert";

impl AlertSink for SnsAlerts {
    fn send<'a>(
        &'a self,
        alert: &'a BudgetAlert,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let message = serde_json::to_string(&AlertMessage {
                event: BUDGET_ALERT_EVENT,
                alert,
            })
            .map_err(|e| e.to_string())?;
            let attribute = |kind: &str, value: String| {
                aws_sdk_sns::types::MessageAttributeValue::builder()
                    .data_type(kind)
                    .string_value(value)
                    .build()
                    .map_err(|e| e.to_string())
            };
            self.client
                .publish()
                .topic_arn(&self.topic_arn)
                .subject(format!(
                    "Tenantry: {} reached {}% of its {} token budget",
                    alert.clinic_id,
                    alert.percent,
                    alert.period.adjective()
                ))
                .message(message)
                .message_attributes("clinic_id", attribute("String", alert.clinic_id.clone())?)
                .message_attributes("period", attribute("String", alert.period.as_str().into())?)
                .message_attributes("percent", attribute("Number", alert.percent.to_string())?)
                .send()
                .await
                .map_err(|e| crate::brief_sdk_error(&e))?;
            Ok(())
        })
    }
}

/// The alert as published: the event's name beside the alert's fields.
#[derive(Debug, Serialize)]
pub struct AlertMessage<'a> {
    pub event: &'static str,
    #[serde(flatten)]
    pub alert: &'a BudgetAlert,
}

/// The budgets of this runtime's tier.
pub struct Budgets {
    store: TokenBudgets,
    /// The tier file's budget for the tier.
    default: TokenBudget,
    alerts: Option<Box<dyn AlertSink>>,
}

impl Budgets {
    pub fn new(
        store: TokenBudgets,
        default: TokenBudget,
        alerts: Option<Box<dyn AlertSink>>,
    ) -> Self {
        Self {
            store,
            default,
            alerts,
        }
    }

    /// The clinic's budget: its registry row's, else its tier's.
    fn budget_of(&self, override_: Option<TokenBudget>) -> TokenBudget {
        override_.unwrap_or(self.default)
    }

    /// Reserves `estimate` tokens for one model call of `ctx`'s clinic. `Ok(None)`: the store
    /// could not be reached, and the call goes ahead unreserved (logged).
    pub async fn reserve(
        &self,
        ctx: &TenantContext,
        override_: Option<TokenBudget>,
        estimate: u64,
    ) -> Result<Option<Reservation>, InvocationError> {
        let clinic = ctx.clinic_id();
        let today = usage_meter::utc_today();
        let budget = self.budget_of(override_);
        match self.store.reserve(clinic, budget, estimate, today).await {
            Ok(Reserve::Reserved {
                reservation,
                alerts,
            }) => {
                for alert in alerts {
                    self.alert(&alert).await;
                }
                Ok(Some(reservation))
            }
            Ok(Reserve::Exhausted {
                spent,
                resets_at,
                alert,
            }) => {
                tracing::info!(
                    clinic_id = %clinic,
                    period = spent.period.as_str(),
                    used = spent.used,
                    limit = spent.limit,
                    estimate,
                    "the clinic's token budget cannot take this call"
                );
                self.alert(&alert).await;
                Err(exhausted(spent.period.adjective(), resets_at))
            }
            Err(e) => {
                tracing::error!(error = %e, clinic_id = %clinic, "the token budget could not be reserved; the call goes ahead");
                Ok(None)
            }
        }
    }

    /// Settles a reservation with the tokens the call used.
    pub async fn settle(
        &self,
        reservation: &Reservation,
        used: u64,
    ) -> Result<(), usage_meter::UsageError> {
        self.store.settle(reservation, used).await
    }

    /// Sends `alert` once per period: the claim on the month's item decides, across every
    /// microVM. A send that fails gives the claim back, so a later call tries again.
    async fn alert(&self, alert: &BudgetAlert) {
        let today = usage_meter::utc_today();
        match self.store.claim(alert, today).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, clinic_id = %alert.clinic_id, "a budget alert could not be claimed");
                return;
            }
        }
        // The provider's record of the alert, whatever the sink.
        tracing::warn!(
            budget_alert = true,
            clinic_id = %alert.clinic_id,
            period = alert.period.as_str(),
            percent = alert.percent,
            used = alert.used,
            limit = alert.limit,
            resets_at = %alert.resets_at,
            "a clinic reached {}% of its {} token budget",
            alert.percent,
            alert.period.as_str()
        );
        let Some(sink) = &self.alerts else { return };
        if let Err(e) = sink.send(alert).await {
            tracing::error!(error = %e, clinic_id = %alert.clinic_id, "a budget alert could not be sent; it will be tried again");
            if let Err(e) = self.store.unclaim(alert, today).await {
                tracing::error!(error = %e, clinic_id = %alert.clinic_id, "a budget alert's claim could not be given back");
            }
        }
    }
}

/// One turn's hold on its clinic's budget. The first reservation (taken before the reply
/// started) usually covers the whole turn: a later call reserves only what its estimate needs
/// beyond what the turn holds and has not used, so a tool round costs no round trip to the
/// table. Everything held is settled with what the calls used in one write once the caller has
/// the answer.
pub struct TurnBudget<'a> {
    budgets: &'a Budgets,
    ctx: &'a TenantContext,
    budget: Option<TokenBudget>,
    hold: std::sync::Mutex<Hold>,
}

#[derive(Default)]
struct Hold {
    reservations: Vec<Reservation>,
    /// Tokens reserved by the turn so far.
    held: u64,
    /// Tokens its calls used (as reported; a call without a report counts its estimate).
    used: u64,
    /// The last call's estimate.
    last_estimate: u64,
}

impl<'a> TurnBudget<'a> {
    pub fn new(
        budgets: &'a Budgets,
        ctx: &'a TenantContext,
        budget: Option<TokenBudget>,
        first: Option<Reservation>,
    ) -> Self {
        let mut hold = Hold::default();
        if let Some(r) = first {
            hold.held = r.tokens;
            hold.reservations.push(r);
        }
        Self {
            budgets,
            ctx,
            budget,
            hold: std::sync::Mutex::new(hold),
        }
    }

    /// Before a model call: reserves what `estimate` needs beyond the turn's unused hold (no
    /// write when the hold covers it). Refused: the clinic's budget cannot take the call.
    pub async fn before_call(&self, estimate: u64) -> Result<(), InvocationError> {
        let available = match self.hold.lock() {
            Ok(mut h) => {
                h.last_estimate = estimate;
                h.held.saturating_sub(h.used)
            }
            Err(_) => 0,
        };
        if available >= estimate {
            return Ok(());
        }
        let more = self
            .budgets
            .reserve(self.ctx, self.budget, estimate - available)
            .await?;
        if let (Some(r), Ok(mut h)) = (more, self.hold.lock()) {
            h.held += r.tokens;
            h.reservations.push(r);
        }
        Ok(())
    }

    /// After a call: what it used (input plus output); `None` when the model reported no
    /// usage, which counts the call's estimate. A failed call counts what it reported, zero
    /// when nothing: a refused request is not billed.
    pub fn after_call(&self, used: Option<u64>) {
        if let Ok(mut h) = self.hold.lock() {
            let used = used.unwrap_or(h.last_estimate);
            h.used = h.used.saturating_add(used);
        }
    }

    /// Settles what the turn held with what it used (after the answer): one write, or one per
    /// UTC day for a turn that crossed midnight. The first failure, if any.
    pub async fn settle(&self) -> Result<(), usage_meter::UsageError> {
        let hold = self
            .hold
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default();
        let Some((last, earlier)) = hold.reservations.split_last() else {
            return Ok(());
        };
        // The earlier reservations count as used in full (one write for the turn); the last
        // one takes the difference.
        let earlier_held: u64 = earlier.iter().map(|r| r.tokens).sum();
        let merged = last.clone().with_tokens(hold.held);
        if earlier.iter().all(|r| r.same_day(last)) {
            return self.budgets.settle(&merged, hold.used).await;
        }
        self.budgets
            .settle(last, hold.used.saturating_sub(earlier_held))
            .await
    }
}

fn exhausted(period: &'static str, resets_at: DateTime<Utc>) -> InvocationError {
    let retry_after_secs = (resets_at - Utc::now()).num_seconds().max(1) as u64;
    InvocationError::BudgetExhausted {
        period,
        resets_at,
        retry_after_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn estimates_err_high_and_include_the_output_cap() {
        assert_eq!(tokens_of_chars(0), 0);
        assert_eq!(tokens_of_chars(1), 1);
        assert_eq!(tokens_of_chars(9), 3);
        assert_eq!(
            first_call_estimate("abcdef", 1000),
            2 + FIRST_CALL_CONTEXT_TOKENS + 1000
        );
        let messages = vec![Message::text(Role::User, "x".repeat(300))];
        assert_eq!(call_estimate(&messages, &[], 500), 100 + 500);
    }
}
