//! The TenantRegistry table (`clinic_id` HASH): one row per onboarded clinic with its tier, its
//! status and the id of its API key. tenant-admin writes it; the authorizer reads it on every
//! request (through a short cache) and the pre-token trigger before every token: a clinic that
//! is not active with the tier its users' tokens claim gets neither.
//!
//! Behind the front door, `ServedTenants` asks the same question with the same short cache, so
//! a suspension closes the tool target and the agent too.
//!
//! Reads are strongly consistent (a suspension counts at once). A row that does not parse (an
//! unknown status, a missing attribute) is an error, never a default: every reader fails closed.

use std::collections::HashMap;

mod served;
pub use served::{
    DEFAULT_CACHE, ENV_REGISTRY_CACHE_SECS, ENV_REGISTRY_TABLE, NotServed, ServedTenants,
    cache_lifetime,
};

use aws_sdk_dynamodb::types::AttributeValue;
use tenant_context::{ClinicId, TokenBudget};

/// The partition key.
pub const ATTR_CLINIC: &str = "clinic_id";
pub const ATTR_TIER: &str = "tier";
pub const ATTR_STATUS: &str = "status";
pub const ATTR_API_KEY_ID: &str = "api_key_id";
/// The clinic's own token budget (numbers), when the provider set one (`tenant-admin
/// set-budget`); without them the tier's applies.
pub const ATTR_BUDGET_DAILY: &str = "budget_daily_tokens";
pub const ATTR_BUDGET_MONTHLY: &str = "budget_monthly_tokens";
/// The usernames a suspension disabled (a string set): resuming enables these and no others,
/// so a user an administrator had disabled before stays disabled.
pub const ATTR_SUSPENDED_USERS: &str = "suspended_users";
/// The tier a change under way moves the clinic to (with status `changing_tier`).
pub const ATTR_TIER_CHANGE_TO: &str = "tier_change_to";
/// When a tombstone (status `offboarded` or `purged`) was written (RFC 3339).
pub const ATTR_RETIRED_AT: &str = "retired_at";
/// The API key id a row gets when its clinic is offboarded before it ever had one (the row
/// must name a key to parse; this one names none that can exist).
pub const NO_API_KEY: &str = "none";

/// Whether a clinic may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
    /// Being moved to another tier (`tenant-admin change-tier`): refused everywhere until the
    /// change ends, so the clinic is never served half on each tier.
    ChangingTier,
    /// Being offboarded (`tenant-admin offboard`): refused everywhere; only a re-run of the
    /// offboarding moves it on.
    Offboarding,
    /// A tombstone: offboarded with its patient rows and documents kept. Onboarding the same
    /// id again needs `--reuse-id` (it would land on that data).
    Offboarded,
    /// A tombstone: offboarded and its data erased (`offboard --purge`). Onboarding the same
    /// id again needs `--reuse-id`.
    Purged,
}

impl TenantStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::ChangingTier => "changing_tier",
            TenantStatus::Offboarding => "offboarding",
            TenantStatus::Offboarded => "offboarded",
            TenantStatus::Purged => "purged",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(TenantStatus::Active),
            "suspended" => Some(TenantStatus::Suspended),
            "changing_tier" => Some(TenantStatus::ChangingTier),
            "offboarding" => Some(TenantStatus::Offboarding),
            "offboarded" => Some(TenantStatus::Offboarded),
            "purged" => Some(TenantStatus::Purged),
            _ => None,
        }
    }
}

impl TenantStatus {
    /// Offboarded (a tombstone) or being offboarded: the id is not to be given out again, or
    /// written over, without an explicit decision (`--reuse-id`).
    pub const fn is_retired(self) -> bool {
        matches!(
            self,
            TenantStatus::Offboarding | TenantStatus::Offboarded | TenantStatus::Purged
        )
    }
}

impl std::fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One clinic's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub clinic_id: ClinicId,
    /// The tier's name as tenant-admin wrote it (whether the catalog still has it is the
    /// reader's question: the authorizer and the trigger compare it with the token's).
    pub tier: String,
    pub status: TenantStatus,
    /// The id (not the value) of the clinic's API key in its tier's usage plan.
    pub api_key_id: String,
    /// The clinic's own token budget; `None`: its tier's.
    pub token_budget: Option<TokenBudget>,
    /// The tier a change under way moves it to (status `changing_tier`).
    pub tier_change_to: Option<String>,
    /// When its tombstone was written (status `offboarded` or `purged`), RFC 3339.
    pub retired_at: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The table could not be read or written (the SDK's error kept for its code and chain).
    #[error("TenantRegistry {op} failed")]
    Unavailable {
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A row that names no valid tier, status or key: nobody is let in on it.
    #[error("the TenantRegistry row of {clinic} is malformed: {what}")]
    Malformed { clinic: String, what: &'static str },
    /// A status change for a clinic that is not onboarded.
    #[error("{clinic} is not in the TenantRegistry: onboard it first")]
    NotOnboarded { clinic: String },
    /// A tier change that cannot start or end as asked.
    #[error("{clinic}: the tier change is refused: {why}")]
    TierChangeRefused { clinic: String, why: String },
    /// A write onto an offboarded clinic's row (or one being offboarded).
    #[error("{clinic} was offboarded (status {status}): {what}")]
    Retired {
        clinic: String,
        status: TenantStatus,
        what: String,
    },
}

impl RegistryError {
    /// The refusal of a write onto `clinic`'s retired row, saying what to do.
    pub fn retired(clinic: &ClinicId, status: TenantStatus) -> Self {
        RegistryError::Retired {
            clinic: clinic.to_string(),
            status,
            what: retired_refusal(status),
        }
    }

    fn unavailable<E: std::error::Error + Send + Sync + 'static>(
        op: &'static str,
    ) -> impl FnOnce(E) -> Self {
        move |e| RegistryError::Unavailable {
            op,
            source: Box::new(e),
        }
    }
}

fn text(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// An UpdateItem conditioned on the row existing: its refusal means the clinic is not
/// onboarded; anything else, that the table could not be written.
fn not_onboarded_or_unavailable(
    clinic: &ClinicId,
) -> impl FnOnce(
    aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> RegistryError
+ '_ {
    move |e| {
        if refused(&e) {
            RegistryError::NotOnboarded {
                clinic: clinic.to_string(),
            }
        } else {
            RegistryError::unavailable("UpdateItem")(e)
        }
    }
}

/// Whether DynamoDB refused an UpdateItem for its condition.
fn refused(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.is_conditional_check_failed_exception())
}

/// What to do about a refused write onto a retired row.
fn retired_refusal(status: TenantStatus) -> String {
    match status {
        TenantStatus::Offboarding => {
            "its offboarding is under way: run the same offboard command again to finish it".into()
        }
        TenantStatus::Purged => "its data was erased; onboarding the same id again needs \
             --reuse-id (a new clinic under an old id: its audit trail and usage rows are still \
             filed under it)"
            .into(),
        _ => "its patient rows and documents were kept; onboarding the same id again needs \
             --reuse-id, and brings the clinic back onto that data"
            .into(),
    }
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The table, through one DynamoDB client.
#[derive(Debug, Clone)]
pub struct TenantRegistry {
    ddb: aws_sdk_dynamodb::Client,
    table: String,
}

impl TenantRegistry {
    pub fn new(ddb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            ddb,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The clinic's row (a strongly consistent read), `None` when it is not onboarded.
    pub async fn get(&self, clinic: &ClinicId) -> Result<Option<TenantRow>, RegistryError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(RegistryError::unavailable("GetItem"))?;
        out.item().map(|item| parse_row(clinic, item)).transpose()
    }

    /// Writes a clinic's tier, status and key (creating the row if needed). A token budget the
    /// provider set is kept unless `row` names one: re-applying a tenants file does not undo a
    /// `set-budget`. Refused while a tier change is under way (it would end it half-done), and
    /// onto a tombstone unless `reuse_id` (an offboarded id given to a clinic again would land
    /// on what is left of the old one); never while an offboarding is under way.
    pub async fn put(&self, row: &TenantRow, reuse_id: bool) -> Result<(), RegistryError> {
        let mut set = vec!["#t = :t", "#st = :s", "#k = :k"];
        let mut update = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(row.clinic_id.as_str()))
            .expression_attribute_names("#t", ATTR_TIER)
            .expression_attribute_names("#st", ATTR_STATUS)
            .expression_attribute_names("#k", ATTR_API_KEY_ID)
            .expression_attribute_values(":t", text(&row.tier))
            .expression_attribute_values(":s", text(row.status.as_str()))
            .expression_attribute_values(":k", text(&row.api_key_id));
        let mut remove = vec!["#ra"];
        if let Some(b) = row.token_budget {
            set.push("#bd = :bd");
            update = update
                .expression_attribute_names("#bd", ATTR_BUDGET_DAILY)
                .expression_attribute_values(":bd", number(b.daily_tokens));
            match b.monthly_tokens {
                Some(m) => {
                    set.push("#bm = :bm");
                    update = update.expression_attribute_values(":bm", number(m));
                }
                None => remove.push("#bm"),
            }
            update = update.expression_attribute_names("#bm", ATTR_BUDGET_MONTHLY);
        }
        let retired = if reuse_id {
            "#st <> :offboarding"
        } else {
            "#st <> :offboarding AND #st <> :offboarded AND #st <> :purged"
        };
        for status in [
            TenantStatus::Offboarding,
            TenantStatus::Offboarded,
            TenantStatus::Purged,
        ] {
            if reuse_id && status != TenantStatus::Offboarding {
                continue;
            }
            update = update.expression_attribute_values(
                format!(":{}", status.as_str()),
                text(status.as_str()),
            );
        }
        let out = update
            .update_expression(format!(
                "SET {} REMOVE {}",
                set.join(", "),
                remove.join(", ")
            ))
            .condition_expression(format!(
                "attribute_not_exists(#to) AND (attribute_not_exists(#st) OR ({retired}))"
            ))
            .expression_attribute_names("#to", ATTR_TIER_CHANGE_TO)
            .expression_attribute_names("#ra", ATTR_RETIRED_AT)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if refused(&e) => Err(match self.get(&row.clinic_id).await {
                Ok(Some(now)) if now.status.is_retired() => {
                    RegistryError::retired(&row.clinic_id, now.status)
                }
                Ok(_) => RegistryError::TierChangeRefused {
                    clinic: row.clinic_id.to_string(),
                    why:
                        "a tier change is under way: finish it (change-tier) before writing the row"
                            .into(),
                },
                Err(e) => e,
            }),
            Err(e) => Err(RegistryError::unavailable("UpdateItem")(e)),
        }
    }

    /// Starts (or confirms) offboarding `clinic`: status `offboarding`, refused everywhere, in
    /// one write that also creates the row (with `tier` and no key) if it is gone, so that the
    /// id stays taken whatever happens next. Refused while a tier change is under way.
    pub async fn begin_offboarding(
        &self,
        clinic: &ClinicId,
        tier: &str,
    ) -> Result<Option<TenantStatus>, RegistryError> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .update_expression(
                "SET #st = :offboarding, #t = if_not_exists(#t, :t), #k = if_not_exists(#k, :none)",
            )
            .condition_expression("attribute_not_exists(#to)")
            .expression_attribute_names("#st", ATTR_STATUS)
            .expression_attribute_names("#t", ATTR_TIER)
            .expression_attribute_names("#k", ATTR_API_KEY_ID)
            .expression_attribute_names("#to", ATTR_TIER_CHANGE_TO)
            .expression_attribute_values(":offboarding", text(TenantStatus::Offboarding.as_str()))
            .expression_attribute_values(":t", text(tier))
            .expression_attribute_values(":none", text(NO_API_KEY))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => Ok(out
                .attributes()
                .and_then(|a| a.get(ATTR_STATUS))
                .and_then(|v| v.as_s().ok())
                .and_then(|s| TenantStatus::parse(s))),
            Err(e) if refused(&e) => Err(self
                .refusal(clinic, |row| {
                    format!(
                        "a change to {} is under way: finish it (change-tier) before offboarding",
                        row.tier_change_to.unwrap_or_default()
                    )
                })
                .await),
            Err(e) => Err(RegistryError::unavailable("UpdateItem")(e)),
        }
    }

    /// Ends an offboarding begun with [`Self::begin_offboarding`]: the row becomes a tombstone
    /// (`offboarded` or `purged`, with the time `at`), keeping only the id, the tier and the
    /// old key's id. Refused unless the offboarding is under way or already ended so.
    pub async fn retire(
        &self,
        clinic: &ClinicId,
        status: TenantStatus,
        at: &str,
    ) -> Result<(), RegistryError> {
        if !matches!(status, TenantStatus::Offboarded | TenantStatus::Purged) {
            return Err(RegistryError::Retired {
                clinic: clinic.to_string(),
                status,
                what: "a tombstone is offboarded or purged".into(),
            });
        }
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .update_expression("SET #st = :s, #ra = :at REMOVE #su, #bd, #bm")
            .condition_expression("#st = :offboarding OR #st = :s")
            .expression_attribute_names("#st", ATTR_STATUS)
            .expression_attribute_names("#ra", ATTR_RETIRED_AT)
            .expression_attribute_names("#su", ATTR_SUSPENDED_USERS)
            .expression_attribute_names("#bd", ATTR_BUDGET_DAILY)
            .expression_attribute_names("#bm", ATTR_BUDGET_MONTHLY)
            .expression_attribute_values(":s", text(status.as_str()))
            .expression_attribute_values(":offboarding", text(TenantStatus::Offboarding.as_str()))
            .expression_attribute_values(":at", text(at))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if refused(&e) => Err(self
                .refusal(clinic, |row| {
                    format!("it is {}, not being offboarded", row.status)
                })
                .await),
            Err(e) => Err(RegistryError::unavailable("UpdateItem")(e)),
        }
    }

    /// Sets (or, with `None`, removes) an onboarded clinic's own token budget; a clinic that is
    /// not onboarded is refused.
    pub async fn set_budget(
        &self,
        clinic: &ClinicId,
        budget: Option<TokenBudget>,
    ) -> Result<(), RegistryError> {
        let mut update = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .expression_attribute_names("#bd", ATTR_BUDGET_DAILY)
            .expression_attribute_names("#bm", ATTR_BUDGET_MONTHLY)
            .condition_expression(format!("attribute_exists({ATTR_CLINIC})"));
        update = match budget {
            Some(TokenBudget {
                daily_tokens,
                monthly_tokens: Some(m),
            }) => update
                .update_expression("SET #bd = :bd, #bm = :bm")
                .expression_attribute_values(":bd", number(daily_tokens))
                .expression_attribute_values(":bm", number(m)),
            Some(TokenBudget {
                daily_tokens,
                monthly_tokens: None,
            }) => update
                .update_expression("SET #bd = :bd REMOVE #bm")
                .expression_attribute_values(":bd", number(daily_tokens)),
            None => update.update_expression("REMOVE #bd, #bm"),
        };
        update
            .send()
            .await
            .map_err(not_onboarded_or_unavailable(clinic))?;
        Ok(())
    }

    /// Sets an onboarded clinic's status (active or suspended); a clinic that is not onboarded,
    /// one whose tier change is under way, and an offboarded one are refused.
    pub async fn set_status(
        &self,
        clinic: &ClinicId,
        status: TenantStatus,
    ) -> Result<(), RegistryError> {
        if !matches!(status, TenantStatus::Active | TenantStatus::Suspended) {
            return Err(RegistryError::TierChangeRefused {
                clinic: clinic.to_string(),
                why: format!("set-status sets active or suspended, not {status}"),
            });
        }
        let mut values = HashMap::from([(":s".to_owned(), text(status.as_str()))]);
        for retired in [
            TenantStatus::Offboarding,
            TenantStatus::Offboarded,
            TenantStatus::Purged,
        ] {
            values.insert(format!(":{}", retired.as_str()), text(retired.as_str()));
        }
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .update_expression("SET #st = :s")
            .expression_attribute_names("#st", ATTR_STATUS)
            .expression_attribute_names("#to", ATTR_TIER_CHANGE_TO)
            .set_expression_attribute_values(Some(values))
            .condition_expression(format!(
                "attribute_exists({ATTR_CLINIC}) AND attribute_not_exists(#to) \
                 AND #st <> :offboarding AND #st <> :offboarded AND #st <> :purged"
            ))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if refused(&e) => Err(match self.get(clinic).await {
                Ok(Some(row)) if row.status.is_retired() => {
                    RegistryError::retired(clinic, row.status)
                }
                _ => {
                    self.refusal(clinic, |row| {
                        format!(
                            "a change to {} is under way: finish it first",
                            row.tier_change_to.unwrap_or_default()
                        )
                    })
                    .await
                }
            }),
            Err(e) => Err(RegistryError::unavailable("UpdateItem")(e)),
        }
    }

    /// Adds `usernames` to the users the clinic's suspension disabled (before they are
    /// disabled, so an interrupted suspension run again still knows them); returns the whole
    /// set. A clinic that is not onboarded is refused.
    pub async fn record_suspended_users(
        &self,
        clinic: &ClinicId,
        usernames: &[String],
    ) -> Result<Vec<String>, RegistryError> {
        if usernames.is_empty() {
            return self.suspended_users(clinic).await;
        }
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .update_expression("ADD #su :u")
            .expression_attribute_names("#su", ATTR_SUSPENDED_USERS)
            .expression_attribute_values(":u", AttributeValue::Ss(usernames.to_vec()))
            .condition_expression(format!("attribute_exists({ATTR_CLINIC})"))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(not_onboarded_or_unavailable(clinic))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(ATTR_SUSPENDED_USERS))
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default())
    }

    /// The users the clinic's suspension disabled (none when it is not suspended, or not
    /// onboarded).
    pub async fn suspended_users(&self, clinic: &ClinicId) -> Result<Vec<String>, RegistryError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .projection_expression("#su")
            .expression_attribute_names("#su", ATTR_SUSPENDED_USERS)
            .consistent_read(true)
            .send()
            .await
            .map_err(RegistryError::unavailable("GetItem"))?;
        Ok(out
            .item()
            .and_then(|i| i.get(ATTR_SUSPENDED_USERS))
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default())
    }

    /// Takes `username` out of the users a resume would enable (an administrator disabled or
    /// removed it while the clinic was suspended). No row, or no such user, is no error.
    pub async fn forget_suspended_user(
        &self,
        clinic: &ClinicId,
        username: &str,
    ) -> Result<(), RegistryError> {
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .update_expression("DELETE #su :u")
            .expression_attribute_names("#su", ATTR_SUSPENDED_USERS)
            .expression_attribute_values(":u", AttributeValue::Ss(vec![username.to_owned()]))
            .condition_expression(format!("attribute_exists({ATTR_CLINIC})"))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match not_onboarded_or_unavailable(clinic)(e) {
                RegistryError::NotOnboarded { .. } => Ok(()),
                other => Err(other),
            })
    }

    /// Forgets every user a suspension disabled (once a resume has enabled them).
    pub async fn clear_suspended_users(&self, clinic: &ClinicId) -> Result<(), RegistryError> {
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .update_expression("REMOVE #su")
            .expression_attribute_names("#su", ATTR_SUSPENDED_USERS)
            .condition_expression(format!("attribute_exists({ATTR_CLINIC})"))
            .send()
            .await
            .map_err(not_onboarded_or_unavailable(clinic))?;
        Ok(())
    }

    /// Starts (or confirms) a move of an active clinic from `from` to `to`: status
    /// `changing_tier` (refused everywhere) and the target recorded, in one conditional write.
    /// Refused unless the clinic is active on `from`, or already changing to `to` (a re-run).
    pub async fn begin_tier_change(
        &self,
        clinic: &ClinicId,
        from: &str,
        to: &str,
    ) -> Result<(), RegistryError> {
        let values = HashMap::from([
            (
                ":changing".to_owned(),
                text(TenantStatus::ChangingTier.as_str()),
            ),
            (":active".to_owned(), text(TenantStatus::Active.as_str())),
            (":from".to_owned(), text(from)),
            (":to".to_owned(), text(to)),
        ]);
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .update_expression("SET #st = :changing, #to = :to")
            .condition_expression(
                "(#st = :active AND #t = :from) OR (#st = :changing AND #to = :to)",
            )
            .expression_attribute_names("#st", ATTR_STATUS)
            .expression_attribute_names("#t", ATTR_TIER)
            .expression_attribute_names("#to", ATTR_TIER_CHANGE_TO)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if refused(&e) => Err(self
                .refusal(clinic, |row| match (row.status, row.tier_change_to) {
                    (TenantStatus::ChangingTier, Some(other)) => format!(
                        "a change to {other} is under way: finish it first (change-tier --tier {other})"
                    ),
                    (TenantStatus::Suspended, _) => "it is suspended: resume it first".into(),
                    _ => format!("it is on {}, not {from}", row.tier),
                })
                .await),
            Err(e) => Err(RegistryError::unavailable("UpdateItem")(e)),
        }
    }

    /// Ends a change begun with [`Self::begin_tier_change`]: the tier set to `to` and the
    /// clinic active again, in one conditional write.
    pub async fn finish_tier_change(
        &self,
        clinic: &ClinicId,
        to: &str,
    ) -> Result<(), RegistryError> {
        let values = HashMap::from([
            (
                ":changing".to_owned(),
                text(TenantStatus::ChangingTier.as_str()),
            ),
            (":active".to_owned(), text(TenantStatus::Active.as_str())),
            (":to".to_owned(), text(to)),
        ]);
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .update_expression("SET #st = :active, #t = :to REMOVE #to")
            .condition_expression("#st = :changing AND #to = :to")
            .expression_attribute_names("#st", ATTR_STATUS)
            .expression_attribute_names("#t", ATTR_TIER)
            .expression_attribute_names("#to", ATTR_TIER_CHANGE_TO)
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| {
                if refused(&e) {
                    RegistryError::TierChangeRefused {
                        clinic: clinic.to_string(),
                        why: format!("no change to {to} is under way"),
                    }
                } else {
                    RegistryError::unavailable("UpdateItem")(e)
                }
            })?;
        Ok(())
    }

    /// Why a conditional write on `clinic`'s row was refused: the clinic is not onboarded, or
    /// `why` of its row as it is now (or the read that would tell failed).
    async fn refusal(
        &self,
        clinic: &ClinicId,
        why: impl FnOnce(TenantRow) -> String,
    ) -> RegistryError {
        match self.get(clinic).await {
            Ok(None) => RegistryError::NotOnboarded {
                clinic: clinic.to_string(),
            },
            Ok(Some(row)) => RegistryError::TierChangeRefused {
                clinic: clinic.to_string(),
                why: why(row),
            },
            Err(e) => e,
        }
    }

    /// Removes a clinic's row (no row is no error: offboarding is idempotent).
    pub async fn delete(&self, clinic: &ClinicId) -> Result<(), RegistryError> {
        self.ddb
            .delete_item()
            .table_name(&self.table)
            .key(ATTR_CLINIC, text(clinic.as_str()))
            .send()
            .await
            .map_err(RegistryError::unavailable("DeleteItem"))?;
        Ok(())
    }
}

/// A row as read; every attribute must be there and valid.
pub fn parse_row(
    clinic: &ClinicId,
    item: &HashMap<String, AttributeValue>,
) -> Result<TenantRow, RegistryError> {
    let malformed = |what| RegistryError::Malformed {
        clinic: clinic.to_string(),
        what,
    };
    let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok());
    let tier = get(ATTR_TIER)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("no tier"))?
        .to_owned();
    let status = get(ATTR_STATUS)
        .and_then(|s| TenantStatus::parse(s))
        .ok_or_else(|| malformed("no valid status"))?;
    let api_key_id = get(ATTR_API_KEY_ID)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| malformed("no API key id"))?
        .to_owned();
    let tokens = |k: &str| -> Result<Option<u64>, RegistryError> {
        match item.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .map(Some)
                .ok_or_else(|| malformed("a token budget that is not a whole number")),
        }
    };
    let token_budget = match (tokens(ATTR_BUDGET_DAILY)?, tokens(ATTR_BUDGET_MONTHLY)?) {
        (None, None) => None,
        (Some(daily_tokens), monthly_tokens) => {
            let b = TokenBudget {
                daily_tokens,
                monthly_tokens,
            };
            if b.problem().is_some() {
                return Err(malformed("an unusable token budget"));
            }
            Some(b)
        }
        (None, Some(_)) => return Err(malformed("a monthly token budget without a daily one")),
    };
    Ok(TenantRow {
        clinic_id: clinic.clone(),
        tier,
        status,
        api_key_id,
        token_budget,
        tier_change_to: get(ATTR_TIER_CHANGE_TO).cloned(),
        retired_at: get(ATTR_RETIRED_AT).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), text(v)))
            .collect()
    }

    #[test]
    fn a_row_parses_only_whole() {
        let clinic = ClinicId::parse("clinic-a").unwrap();
        let ok = parse_row(
            &clinic,
            &item(&[
                ("tier", "basic"),
                ("status", "active"),
                ("api_key_id", "k1"),
            ]),
        )
        .unwrap();
        assert_eq!(ok.status, TenantStatus::Active);
        assert_eq!(ok.tier, "basic");
        assert_eq!(ok.token_budget, None);
        // A clinic's own budget: whole numbers, a month at least a day, never a month alone.
        let with = |pairs: &[(&str, &str)]| {
            let mut i = item(&[
                ("tier", "basic"),
                ("status", "active"),
                ("api_key_id", "k1"),
            ]);
            for (k, v) in pairs {
                i.insert((*k).to_owned(), AttributeValue::N((*v).to_owned()));
            }
            parse_row(&clinic, &i)
        };
        assert_eq!(
            with(&[(ATTR_BUDGET_DAILY, "100"), (ATTR_BUDGET_MONTHLY, "3000")])
                .unwrap()
                .token_budget,
            Some(TokenBudget {
                daily_tokens: 100,
                monthly_tokens: Some(3000)
            })
        );
        for bad in [
            vec![(ATTR_BUDGET_DAILY, "ten")],
            vec![(ATTR_BUDGET_DAILY, "0")],
            vec![(ATTR_BUDGET_DAILY, "100"), (ATTR_BUDGET_MONTHLY, "50")],
            vec![(ATTR_BUDGET_MONTHLY, "3000")],
        ] {
            assert!(
                matches!(with(&bad), Err(RegistryError::Malformed { .. })),
                "{bad:?}"
            );
        }
        for bad in [
            item(&[("status", "active"), ("api_key_id", "k1")]),
            item(&[("tier", ""), ("status", "active"), ("api_key_id", "k1")]),
            item(&[
                ("tier", "basic"),
                ("status", "paused"),
                ("api_key_id", "k1"),
            ]),
            item(&[("tier", "basic"), ("status", "active"), ("api_key_id", "")]),
        ] {
            assert!(matches!(
                parse_row(&clinic, &bad),
                Err(RegistryError::Malformed { .. })
            ));
        }
    }
}
