//! Per-clinic token budgets (daily, optionally monthly), reserved before each model call.
//!
//! One item per clinic and UTC month in the usage table (sort key `budget#YYYY-MM`, which sorts
//! after every `YYYY-MM-DD` day row, so a clinic's day reads never see it) holds the month's
//! tokens, one counter per day (`day_DD`) and the alerts already sent this month. A model call
//! first reserves its estimate with one conditional `ADD`: DynamoDB refuses the write when the
//! day's (or the month's) count would pass its limit, so concurrent turns of one clinic, on any
//! number of microVMs, cannot together reserve more than the budget. DynamoDB allows no
//! arithmetic in a condition, so the caller computes `limit - estimate` and the condition reads
//! `count <= :max`. After the call the reservation is settled with the real usage by an
//! unconditional `ADD` of the difference (which may be negative): tokens spent are counted
//! even when they pass the limit. The overshoot is therefore at most what the in-flight calls
//! spent beyond their estimates; the estimate includes the call's whole output cap.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;
use tenant_context::{ClinicId, TokenBudget};

use crate::{ATTR_CLINIC, ATTR_DAY, ATTR_EXPIRES, UsageError, UsageMeter, day_end};

const MONTH_TOKENS: &str = "month_tokens";
const ALERTS: &str = "alerts";
/// Alerts go out when a period's count reaches these percentages of its limit.
pub const ALERT_PERCENTS: [u64; 2] = [80, 100];

/// Which of a clinic's budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Month,
}

impl Period {
    pub const fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// `daily` or `monthly`, for messages.
    pub const fn adjective(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Month => "monthly",
        }
    }
}

/// The sort key of `clinic`'s budget item for the month of `day`.
pub fn month_key(day: NaiveDate) -> String {
    format!("budget#{}", day.format("%Y-%m"))
}

fn day_attr(day: NaiveDate) -> String {
    format!("day_{:02}", day.day())
}

/// When the month of `day` ends (UTC), and its monthly budget starts again.
pub fn month_end(day: NaiveDate) -> DateTime<Utc> {
    let first = day.with_day(1).unwrap_or(day);
    let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
    next.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// When `period` of `day` ends and its budget starts again.
pub fn resets_at(period: Period, day: NaiveDate) -> DateTime<Utc> {
    match period {
        Period::Day => day_end(day),
        Period::Month => month_end(day),
    }
}

/// A period's count against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spent {
    pub period: Period,
    pub used: u64,
    pub limit: u64,
}

impl Spent {
    pub fn left(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// The alert thresholds this count has reached.
    fn reached(&self) -> impl Iterator<Item = u64> + '_ {
        ALERT_PERCENTS
            .into_iter()
            .filter(|p| self.used.saturating_mul(100) >= self.limit.saturating_mul(*p))
    }
}

/// A budget alert: `period`'s count reached `percent` of its limit (100: a call was refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetAlert {
    pub clinic_id: String,
    pub period: Period,
    /// `YYYY-MM-DD` for a day, `YYYY-MM` for a month.
    pub period_start: String,
    pub percent: u64,
    pub used: u64,
    pub limit: u64,
    pub resets_at: String,
}

impl BudgetAlert {
    /// The tag that records, on the month's item, that this alert went out.
    fn tag(&self) -> String {
        format!("{}:{}", self.period_start, self.percent)
    }
}

/// Tokens held for one model call, to be settled with what it really used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    clinic: ClinicId,
    day: NaiveDate,
    pub tokens: u64,
    /// The counts after this reservation.
    pub spent: Vec<Spent>,
}

impl Reservation {
    /// The same reservation holding `tokens` (a turn's reservations of one day, settled at
    /// once).
    pub fn with_tokens(mut self, tokens: u64) -> Self {
        self.tokens = tokens;
        self
    }

    /// Whether both count against the same clinic's same day.
    pub fn same_day(&self, other: &Reservation) -> bool {
        self.clinic == other.clinic && self.day == other.day
    }
}

/// A reservation, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserve {
    Reserved {
        reservation: Reservation,
        /// Thresholds this reservation reached whose alert has not gone out this period yet
        /// (claim each with [`TokenBudgets::claim`] before sending it).
        alerts: Vec<BudgetAlert>,
    },
    /// The call would pass `spent`'s limit; the budget starts again at `resets_at`.
    Exhausted {
        spent: Spent,
        resets_at: DateTime<Utc>,
        alert: BudgetAlert,
    },
}

/// A clinic's budgets as of now (for `GET /usage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetStatus {
    pub day: Spent,
    pub day_resets_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<Spent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month_resets_at: Option<String>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn store(op: &'static str, e: impl Into<aws_sdk_dynamodb::Error>) -> UsageError {
    UsageError::Store {
        op,
        message: e.into().to_string(),
    }
}

fn count(item: &HashMap<String, AttributeValue>, field: &str) -> Result<u64, UsageError> {
    match item.get(field) {
        None => Ok(0),
        // A settled overshoot of a refused estimate can leave a count below zero only by a
        // bug; read it as zero rather than refusing the clinic for ever.
        Some(AttributeValue::N(v)) => v
            .parse::<i128>()
            .map(|v| v.clamp(0, u64::MAX as i128) as u64)
            .map_err(|_| UsageError::Corrupt { field: "budget" }),
        Some(_) => Err(UsageError::Corrupt { field: "budget" }),
    }
}

fn sent_alerts(item: &HashMap<String, AttributeValue>) -> Vec<String> {
    item.get(ALERTS)
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default()
}

/// The budgets of one usage table.
#[derive(Debug, Clone)]
pub struct TokenBudgets {
    meter: UsageMeter,
}

impl TokenBudgets {
    pub fn new(meter: UsageMeter) -> Self {
        Self { meter }
    }

    /// An UpdateItem of `clinic`'s budget item for the month of `day`.
    fn update(
        &self,
        clinic: &ClinicId,
        day: NaiveDate,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.meter
            .client
            .update_item()
            .table_name(&self.meter.table)
            .key(ATTR_CLINIC, s(clinic.as_str()))
            .key(ATTR_DAY, s(&month_key(day)))
    }

    /// Reserves `estimate` tokens of `clinic`'s budget on `day`, unless that would pass the
    /// day's or the month's limit.
    pub async fn reserve(
        &self,
        clinic: &ClinicId,
        budget: TokenBudget,
        estimate: u64,
        day: NaiveDate,
    ) -> Result<Reserve, UsageError> {
        let day_max = budget.daily_tokens.checked_sub(estimate);
        let month_max = budget
            .monthly_tokens
            .map(|limit| limit.checked_sub(estimate));
        if day_max.is_none() || month_max.is_some_and(|m| m.is_none()) {
            // Larger than the whole budget: no reservation could ever succeed.
            return self.exhausted(clinic, budget, estimate, day).await;
        }
        let expires = month_end(day).timestamp().max(0) as u64 + crate::KEEP_DAYS * 86_400;
        let mut condition = "(attribute_not_exists(#d) OR #d <= :dmax)".to_owned();
        let mut update = self
            .update(clinic, day)
            .update_expression("SET #expires = :expires ADD #d :est, #m :est")
            .expression_attribute_names("#expires", ATTR_EXPIRES)
            .expression_attribute_names("#d", day_attr(day))
            .expression_attribute_names("#m", MONTH_TOKENS)
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":est", n(estimate))
            .expression_attribute_values(":dmax", n(day_max.unwrap_or(0)))
            .return_values(ReturnValue::AllNew);
        if let Some(Some(m)) = month_max {
            condition.push_str(" AND (attribute_not_exists(#m) OR #m <= :mmax)");
            update = update.expression_attribute_values(":mmax", n(m));
        }
        let result = update.condition_expression(condition).send().await;
        let out = match result {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                return self.exhausted(clinic, budget, estimate, day).await;
            }
            Err(e) => return Err(store("updated (budget)", e)),
        };
        let item = out.attributes().cloned().unwrap_or_default();
        let spent = spent_of(&item, budget, day)?;
        let sent = sent_alerts(&item);
        let alerts = spent
            .iter()
            .flat_map(|sp| {
                sp.reached()
                    .map(|p| alert(clinic, *sp, p, day))
                    .collect::<Vec<_>>()
            })
            .filter(|a| !sent.contains(&a.tag()))
            .collect();
        Ok(Reserve::Reserved {
            reservation: Reservation {
                clinic: clinic.clone(),
                day,
                tokens: estimate,
                spent,
            },
            alerts,
        })
    }

    /// The refusal: which period cannot take `estimate`, read back (a refused reservation
    /// wrote nothing). When both cannot, the month: the caller waits for both to return.
    async fn exhausted(
        &self,
        clinic: &ClinicId,
        budget: TokenBudget,
        estimate: u64,
        day: NaiveDate,
    ) -> Result<Reserve, UsageError> {
        let status = self.status(clinic, budget, day).await?;
        let spent = match status.month {
            Some(m) if m.left() < estimate => m,
            _ => status.day,
        };
        Ok(Reserve::Exhausted {
            spent,
            resets_at: resets_at(spent.period, day),
            alert: alert(clinic, spent, 100, day),
        })
    }

    /// Settles `reservation` with the tokens the call really used (input plus output).
    pub async fn settle(&self, reservation: &Reservation, used: u64) -> Result<(), UsageError> {
        let delta = i128::from(used) - i128::from(reservation.tokens);
        if delta == 0 {
            return Ok(());
        }
        self.update(&reservation.clinic, reservation.day)
            .update_expression("ADD #d :delta, #m :delta")
            .expression_attribute_names("#d", day_attr(reservation.day))
            .expression_attribute_names("#m", MONTH_TOKENS)
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
            .send()
            .await
            .map_err(|e| store("updated (budget settlement)", e))?;
        Ok(())
    }

    /// Records that `alert` goes out; `false` when another call already sent it this period
    /// (the set on the month's item is the one place that knows, across microVMs).
    pub async fn claim(&self, alert: &BudgetAlert, day: NaiveDate) -> Result<bool, UsageError> {
        let clinic = ClinicId::parse(&alert.clinic_id).map_err(|_| UsageError::Corrupt {
            field: "alert clinic",
        })?;
        let result = self
            .update(&clinic, day)
            .update_expression("ADD #a :tags")
            .condition_expression("attribute_not_exists(#a) OR NOT contains(#a, :tag)")
            .expression_attribute_names("#a", ALERTS)
            .expression_attribute_values(":tags", AttributeValue::Ss(vec![alert.tag()]))
            .expression_attribute_values(":tag", s(&alert.tag()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(store("updated (budget alert)", e)),
        }
    }

    /// Gives a claimed alert back after it could not be sent, so a later call sends it.
    pub async fn unclaim(&self, alert: &BudgetAlert, day: NaiveDate) -> Result<(), UsageError> {
        let clinic = ClinicId::parse(&alert.clinic_id).map_err(|_| UsageError::Corrupt {
            field: "alert clinic",
        })?;
        self.update(&clinic, day)
            .update_expression("DELETE #a :tags")
            .expression_attribute_names("#a", ALERTS)
            .expression_attribute_values(":tags", AttributeValue::Ss(vec![alert.tag()]))
            .send()
            .await
            .map_err(|e| store("updated (budget alert)", e))?;
        Ok(())
    }

    /// `clinic`'s counts on `day` against `budget` (a strongly consistent read).
    pub async fn status(
        &self,
        clinic: &ClinicId,
        budget: TokenBudget,
        day: NaiveDate,
    ) -> Result<BudgetStatus, UsageError> {
        let out = self
            .meter
            .client
            .get_item()
            .table_name(&self.meter.table)
            .key(ATTR_CLINIC, s(clinic.as_str()))
            .key(ATTR_DAY, s(&month_key(day)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store("read (budget)", e))?;
        let item = out.item().cloned().unwrap_or_default();
        let spent = spent_of(&item, budget, day)?;
        let day_spent = spent[0];
        let month = spent.get(1).copied();
        Ok(BudgetStatus {
            day: day_spent,
            day_resets_at: rfc3339(day_end(day)),
            month,
            month_resets_at: month.map(|_| rfc3339(month_end(day))),
        })
    }
}

/// The day's count first, then the month's when the budget has one.
fn spent_of(
    item: &HashMap<String, AttributeValue>,
    budget: TokenBudget,
    day: NaiveDate,
) -> Result<Vec<Spent>, UsageError> {
    let mut spent = vec![Spent {
        period: Period::Day,
        used: count(item, &day_attr(day))?,
        limit: budget.daily_tokens,
    }];
    if let Some(limit) = budget.monthly_tokens {
        spent.push(Spent {
            period: Period::Month,
            used: count(item, MONTH_TOKENS)?,
            limit,
        });
    }
    Ok(spent)
}

fn alert(clinic: &ClinicId, spent: Spent, percent: u64, day: NaiveDate) -> BudgetAlert {
    BudgetAlert {
        clinic_id: clinic.to_string(),
        period: spent.period,
        period_start: match spent.period {
            Period::Day => day.format("%Y-%m-%d").to_string(),
            Period::Month => day.format("%Y-%m").to_string(),
        },
        percent,
        used: spent.used,
        limit: spent.limit,
        resets_at: rfc3339(resets_at(spent.period, day)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn budget_keys_sort_after_every_day_and_name_the_month() {
        let key = month_key(day(2026, 12, 7));
        assert_eq!(key, "budget#2026-12");
        assert!(key.as_str() > "9999-12-31", "a day range never reaches it");
        assert_eq!(day_attr(day(2026, 12, 7)), "day_07");
    }

    #[test]
    fn periods_reset_at_the_next_utc_midnight_and_first_of_the_month() {
        assert_eq!(
            rfc3339(resets_at(Period::Day, day(2026, 12, 31))),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339(resets_at(Period::Month, day(2026, 12, 7))),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339(resets_at(Period::Month, day(2027, 1, 31))),
            "2027-02-01T00:00:00Z"
        );
    }

    #[test]
    fn thresholds_are_reached_at_80_and_100_percent() {
        let at = |used| {
            Spent {
                period: Period::Day,
                used,
                limit: 1000,
            }
            .reached()
            .collect::<Vec<_>>()
        };
        assert_eq!(at(799), Vec::<u64>::new());
        assert_eq!(at(800), vec![80]);
        assert_eq!(at(1000), vec![80, 100]);
        assert_eq!(at(5000), vec![80, 100]);
    }
}
