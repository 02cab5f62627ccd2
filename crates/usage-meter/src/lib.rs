//! Per-clinic daily usage counters in one DynamoDB table: requests (request-proxy counts each
//! one that reaches it) and turns, tokens and estimated cost (the agent runtime adds them when
//! a turn ends). The web chat reads them for the day's remaining requests and, for roles the
//! tier file lets see usage, the clinic's usage panel.
//!
//! The agents' `inference_usage` log lines stay the record that cost attribution and billing
//! queries read; these counters exist so a page view costs one small Query instead of a Logs
//! Insights scan. Rows are keyed by clinic first, so a read names exactly one clinic: the one
//! the caller's verified token names, never one a request body or header chose.

pub mod budget;
pub mod turn_limit;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;
use tenant_context::{ClinicId, TierName};

/// The table's name, for request-proxy and the agent runtime.
pub const ENV_USAGE_TABLE: &str = "TENANTRY_USAGE_TABLE";
/// Partition key: the clinic.
pub const ATTR_CLINIC: &str = "clinic_id";
/// Sort key: the UTC day, `YYYY-MM-DD` (sorts as dates do).
pub const ATTR_DAY: &str = "day";
/// DynamoDB TTL attribute (epoch seconds): rows go after a year and a month, time for the
/// yearly review of a clinic's use.
pub const ATTR_EXPIRES: &str = "expires_at";
pub const KEEP_DAYS: u64 = 400;
/// The longest span one read may cover (a quarter), so a page view stays one small Query.
pub const MAX_DAYS_PER_READ: u64 = 92;

const REQUESTS: &str = "requests";
const TURNS: &str = "turns";
const INPUT_TOKENS: &str = "input_tokens";
const OUTPUT_TOKENS: &str = "output_tokens";
/// Cost in billionths of the tier's currency: whole numbers, so the counters add exactly.
const COST_NANOS: &str = "cost_nanos";

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("the usage table could not be {op}: {message}")]
    Store { op: &'static str, message: String },
    #[error("a usage row has a malformed `{field}`")]
    Corrupt { field: &'static str },
    #[error("a usage read may cover at most {MAX_DAYS_PER_READ} days")]
    SpanTooLong,
}

/// One clinic's day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayUsage {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Requests that reached request-proxy (what the tier's daily quota counts).
    pub requests: u64,
    /// Turns the agent finished (answered, refused by a guardrail, or failed after model calls).
    pub turns: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// From the tier file's prices: an estimate, not a bill.
    pub estimated_cost: f64,
}

/// Today in UTC: API Gateway's daily quota periods are UTC days.
pub fn utc_today() -> NaiveDate {
    Utc::now().date_naive()
}

/// When the UTC day `day` ends (and a daily quota starts again).
pub fn day_end(day: NaiveDate) -> DateTime<Utc> {
    let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
    next.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn nanos(cost: f64) -> u64 {
    if cost.is_finite() && cost > 0.0 {
        // `as` saturates: an absurd estimate cannot wrap around.
        (cost * 1e9).round() as u64
    } else {
        0
    }
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn store(op: &'static str) -> impl Fn(aws_sdk_dynamodb::Error) -> UsageError {
    move |e| UsageError::Store {
        op,
        message: e.to_string(),
    }
}

/// The counters of one table. Cheap to clone (the SDK client is shared).
#[derive(Debug, Clone)]
pub struct UsageMeter {
    client: Client,
    table: String,
}

impl UsageMeter {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// With a DynamoDB client of the process's SDK configuration (its role, Region, HTTP client).
    pub fn from_sdk(sdk: &aws_types::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn add(
        &self,
        tier: &TierName,
        clinic: &ClinicId,
        day: NaiveDate,
        counters: &[(&str, u64)],
    ) -> Result<(), UsageError> {
        let expires = day_end(day).timestamp().max(0) as u64 + KEEP_DAYS * 86_400;
        // Every name through a placeholder: DAY is a DynamoDB reserved word, and others may
        // become one.
        let adds: Vec<String> = (0..counters.len())
            .map(|i| format!("#n{i} :v{i}"))
            .collect();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, s(clinic.as_str()))
            .key(ATTR_DAY, s(&day_key(day)))
            .update_expression(format!(
                "SET #tier = :tier, #expires = :expires ADD {}",
                adds.join(", ")
            ))
            .expression_attribute_names("#tier", "tier")
            .expression_attribute_names("#expires", ATTR_EXPIRES)
            .expression_attribute_values(":tier", s(tier.as_str()))
            .expression_attribute_values(":expires", n(expires));
        for (i, (name, value)) in counters.iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#n{i}"), *name)
                .expression_attribute_values(format!(":v{i}"), n(*value));
        }
        update
            .send()
            .await
            .map_err(|e| store("updated")(e.into()))?;
        Ok(())
    }

    /// One request of `clinic` reached the proxy on `day`.
    pub async fn count_request(
        &self,
        tier: &TierName,
        clinic: &ClinicId,
        day: NaiveDate,
    ) -> Result<(), UsageError> {
        self.add(tier, clinic, day, &[(REQUESTS, 1)]).await
    }

    /// One turn of `clinic` ended on `day`, having used these tokens.
    pub async fn add_turn(
        &self,
        tier: &TierName,
        clinic: &ClinicId,
        day: NaiveDate,
        input_tokens: u64,
        output_tokens: u64,
        estimated_cost: f64,
    ) -> Result<(), UsageError> {
        self.add(
            tier,
            clinic,
            day,
            &[
                (TURNS, 1),
                (INPUT_TOKENS, input_tokens),
                (OUTPUT_TOKENS, output_tokens),
                (COST_NANOS, nanos(estimated_cost)),
            ],
        )
        .await
    }

    /// `clinic`'s days from `from` to `to` (inclusive, UTC), oldest first; days without use
    /// are absent. Reads that one clinic's partition only.
    pub async fn days(
        &self,
        clinic: &ClinicId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayUsage>, UsageError> {
        if (to - from).num_days() >= MAX_DAYS_PER_READ as i64 {
            return Err(UsageError::SpanTooLong);
        }
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#c = :c AND #d BETWEEN :from AND :to")
                .expression_attribute_names("#c", ATTR_CLINIC)
                .expression_attribute_names("#d", ATTR_DAY)
                .expression_attribute_values(":c", s(clinic.as_str()))
                .expression_attribute_values(":from", s(&day_key(from)))
                .expression_attribute_values(":to", s(&day_key(to)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store("read")(e.into()))?;
            for item in page.items() {
                out.push(row(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }
}

fn row(item: &std::collections::HashMap<String, AttributeValue>) -> Result<DayUsage, UsageError> {
    let count = |field: &'static str| -> Result<u64, UsageError> {
        match item.get(field) {
            None => Ok(0),
            Some(AttributeValue::N(v)) => v.parse().map_err(|_| UsageError::Corrupt { field }),
            Some(_) => Err(UsageError::Corrupt { field }),
        }
    };
    let day = match item.get(ATTR_DAY) {
        Some(AttributeValue::S(d)) => d.clone(),
        _ => return Err(UsageError::Corrupt { field: ATTR_DAY }),
    };
    Ok(DayUsage {
        day,
        requests: count(REQUESTS)?,
        turns: count(TURNS)?,
        input_tokens: count(INPUT_TOKENS)?,
        output_tokens: count(OUTPUT_TOKENS)?,
        estimated_cost: count(COST_NANOS)? as f64 / 1e9,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_kept_in_whole_billionths() {
        assert_eq!(nanos(0.000_123_4), 123_400);
        assert_eq!(nanos(-1.0), 0);
        assert_eq!(nanos(f64::NAN), 0);
        assert_eq!(nanos(f64::INFINITY), 0);
        assert_eq!(nanos(1e30), u64::MAX);
    }

    #[test]
    fn a_day_ends_at_the_next_utc_midnight() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(day_end(day).to_rfc3339(), "2027-01-01T00:00:00+00:00");
        assert_eq!(day_key(day), "2026-12-31");
    }

    #[test]
    fn a_malformed_row_is_an_error_not_a_zero() {
        let mut item = std::collections::HashMap::new();
        item.insert(ATTR_DAY.to_owned(), s("2026-12-02"));
        item.insert(REQUESTS.to_owned(), s("three"));
        assert!(matches!(
            row(&item),
            Err(UsageError::Corrupt { field: "requests" })
        ));
        item.remove(REQUESTS);
        item.insert(INPUT_TOKENS.to_owned(), n(7));
        let r = row(&item).unwrap();
        assert_eq!((r.requests, r.input_tokens), (0, 7));
    }
}
