//! A per-user limit on turns per minute, the agent's second line behind the usage plans (which
//! count per clinic, at the front door). The count lives in the usage table, so every microVM
//! of a runtime counts against one number: an in-process limiter would bound one microVM, and
//! AgentCore starts one per session.
//!
//! One item per user and minute, in the user's clinic's partition (sort key
//! `user-turns#<sub>#<YYYY-MM-DDTHH:MM>`, which sorts after every `YYYY-MM-DD` day row, so a
//! clinic's day reads never see it), expiring an hour after its minute. A turn is admitted by
//! one conditional `ADD`: DynamoDB refuses the write once the count reached the limit, so two
//! microVMs cannot both take the last place.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Timelike, Utc};
use tenant_context::{ClinicId, UserKey};

use crate::{ATTR_CLINIC, ATTR_DAY, ATTR_EXPIRES, UsageError, UsageMeter};

/// The agent's setting: turns per user per minute (0: no limit).
pub const ENV_USER_TURNS_PER_MINUTE: &str = "TENANTRY_USER_TURNS_PER_MINUTE";
/// A person typing does not send more; a loop does.
pub const DEFAULT_USER_TURNS_PER_MINUTE: u32 = 20;
const COUNT: &str = "turns";
/// How long a minute's item is kept (DynamoDB's TTL deletes it some time after).
const KEEP_SECS: i64 = 3600;

/// Whether a turn may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// The user's minute is full; the next one starts in `retry_after_secs`.
    Limited {
        retry_after_secs: u64,
    },
}

/// Turns per user per minute, counted in the usage table.
#[derive(Debug, Clone)]
pub struct TurnLimit {
    meter: UsageMeter,
    per_minute: u32,
}

/// The sort key of `user`'s minute `at`.
pub fn minute_key(user: &UserKey, at: DateTime<Utc>) -> String {
    format!(
        "user-turns#{}#{}",
        user.as_str(),
        at.format("%Y-%m-%dT%H:%M")
    )
}

impl TurnLimit {
    /// `per_minute` turns per user per minute; `None` for 0 (no limit).
    pub fn new(meter: UsageMeter, per_minute: u32) -> Option<Self> {
        (per_minute > 0).then_some(Self { meter, per_minute })
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// [`Self::admit`] at the current time.
    pub async fn admit_now(
        &self,
        clinic: &ClinicId,
        user: &UserKey,
    ) -> Result<Admission, UsageError> {
        self.admit(clinic, user, Utc::now()).await
    }

    /// Counts one turn of `user` (of `clinic`) at `now`, unless their minute is full.
    pub async fn admit(
        &self,
        clinic: &ClinicId,
        user: &UserKey,
        now: DateTime<Utc>,
    ) -> Result<Admission, UsageError> {
        let expires = now.timestamp() + KEEP_SECS;
        let result = self
            .meter
            .client
            .update_item()
            .table_name(&self.meter.table)
            .key(ATTR_CLINIC, AttributeValue::S(clinic.as_str().to_owned()))
            .key(ATTR_DAY, AttributeValue::S(minute_key(user, now)))
            .update_expression("SET #expires = :expires ADD #count :one")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#expires", ATTR_EXPIRES)
            .expression_attribute_names("#count", COUNT)
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(self.per_minute.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Admission::Admitted),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(Admission::Limited {
                    retry_after_secs: u64::from(60 - now.second()).max(1),
                })
            }
            Err(e) => Err(UsageError::Store {
                op: "updated (turn limit)",
                message: aws_sdk_dynamodb::Error::from(e).to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_keys_sort_after_every_day_and_name_user_and_minute() {
        let user = UserKey::parse("6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11").unwrap();
        let at = DateTime::parse_from_rfc3339("2026-12-06T14:05:59Z")
            .unwrap()
            .with_timezone(&Utc);
        let key = minute_key(&user, at);
        assert_eq!(
            key,
            "user-turns#6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11#2026-12-06T14:05"
        );
        assert!(key.as_str() > "9999-12-31", "a day range never reaches it");
    }
}
