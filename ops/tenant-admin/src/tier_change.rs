//! Moving an onboarded clinic to another tier (`tenant-admin change-tier`), so that it is at
//! every moment either fully on its old tier or refused, never half on each:
//!
//! 1. the registry row goes to status `changing_tier` with the target recorded, in one
//!    conditional write: from then on the authorizer, the pre-token trigger, request-proxy, the
//!    agents and the tool target refuse the clinic (within their registry cache's minute);
//! 2. every user of the clinic gets the new `custom:tier` and is signed out everywhere (a token
//!    of the old tier is refused afterwards: the registry names the new one);
//! 3. each user's memory in the old tier's AgentCore Memory is erased: memory is not moved
//!    (what the old tier's strategies extracted is not the new tier's to keep) and the old
//!    tier keeps nothing of the clinic;
//! 4. the clinic's API key moves to the new tier's usage plan (and leaves every other);
//! 5. the ClinicConfig row names the new tier;
//! 6. its documents move to the new tier's bucket and prefix (sidecars naming the new tier),
//!    and both tiers' knowledge bases are synced and waited for (`documents`);
//! 7. the registry row names the new tier and the clinic is active again, in one conditional
//!    write.
//!
//! Usage rows and the token budget's counters are the clinic's (keyed by clinic, not tier) and
//! carry over; a budget the provider set for the clinic stays in its row.
//!
//! Every step checks before it changes, so a run stopped anywhere can be run again with the
//! same `--tier` and finishes; a different target while one change is under way is refused.

use tenant_context::{ClinicId, TierCatalog, TierName};
use tenant_registry::TenantStatus;

use crate::apply::{Clients, attach, clinic_users, detach, set_user_attribute, sign_out};
use crate::documents::{SyncWait, clinic_prefix, move_documents, sync};
use crate::memory::{TierMemory, memory_owner};
use crate::{AdminError, Targets};

/// Move `clinic` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierChange {
    pub clinic: ClinicId,
    pub to: TierName,
}

impl TierChange {
    /// The steps a run takes, for `--dry-run`.
    pub fn describe(&self, targets: &Targets) -> Vec<String> {
        let (clinic, to) = (&self.clinic, &self.to);
        let registry = &targets.registry_table;
        vec![
            format!(
                "read {clinic}'s tier and status from {registry} (refused if not onboarded, suspended, already on {to}, or changing to another tier)"
            ),
            format!(
                "{registry}: status changing_tier, tier_change_to {to} (the clinic is refused everywhere from here until the last step)"
            ),
            format!(
                "every user of {clinic} in {}: custom:tier {to}, signed out everywhere",
                targets.user_pool_id
            ),
            format!(
                "every user's memory in the old tier's AgentCore Memory erased (memory is not moved)"
            ),
            format!(
                "{clinic}'s API key attached to {to}'s usage plan {}, detached from the others",
                targets.usage_plans.get(to).map_or("?", String::as_str)
            ),
            format!("{}: {clinic}'s tier {to}", targets.clinic_table),
            format!(
                "documents under <old tier>-tier/{clinic}/ in the old tier's bucket copied to {to}-tier/{clinic}/ in {} (sidecars naming {to}), then deleted",
                targets.documents.get(to).map_or("?", |d| d.bucket.as_str())
            ),
            "both tiers' knowledge bases synced (StartIngestionJob), waited for until COMPLETE"
                .to_owned(),
            format!("{registry}: tier {to}, status active (one conditional write)"),
        ]
    }
}

/// Runs `change`; `report` gets one line per step.
pub async fn change_tier(
    change: &TierChange,
    clients: &Clients,
    targets: &Targets,
    tiers: &TierCatalog,
    wait: SyncWait,
    report: &mut dyn FnMut(String),
) -> Result<(), AdminError> {
    let (clinic, to) = (&change.clinic, &change.to);
    let registry = clients.registry(&targets.registry_table);
    let row = registry.get(clinic).await?.ok_or_else(|| {
        tenant_registry::RegistryError::NotOnboarded {
            clinic: clinic.to_string(),
        }
    })?;
    let from = tiers.tier(&row.tier)?;
    if from == *to && row.status == TenantStatus::Active {
        report(format!("{clinic}: already on {to}; nothing to do"));
        return Ok(());
    }
    tiers.config(to)?;
    registry
        .begin_tier_change(clinic, from.as_str(), to.as_str())
        .await?;
    report(format!(
        "{clinic}: {from} -> {to} under way (status changing_tier: refused everywhere until the change ends)"
    ));

    let pool = targets.user_pool_id.as_str();
    let users = clinic_users(clients, pool, clinic.as_str()).await?;
    let mut subs = Vec::new();
    for user in users {
        let username = &user.username;
        if user.tier.as_deref() != Some(to.as_str()) {
            set_user_attribute(
                clients,
                pool,
                username,
                tenant_context::CLAIM_TIER,
                to.as_str(),
            )
            .await?;
        }
        sign_out(clients, pool, username).await?;
        report(format!(
            "user {username}: custom:tier {to}, signed out everywhere"
        ));
        if let Some(sub) = user.sub {
            subs.push((user.username, sub));
        }
    }

    let memory_id = targets
        .memories
        .get(&from)
        .ok_or_else(|| AdminError::MissingOutput(format!("the memory id of tier {from}")))?;
    let (mut events, mut records) = (0, 0);
    for (username, sub) in &subs {
        let who = memory_owner(&from, clinic, sub)?;
        let purged = TierMemory {
            client: &clients.memory,
            memory_id,
        }
        .purge(&who, tiers.config(&from)?)
        .await
        .map_err(|e| {
            AdminError::Incomplete(format!(
                "erasing {username}'s {from} memory: {e}; run again"
            ))
        })?;
        events += purged.events;
        records += purged.records;
    }
    report(format!(
        "{from} memory {memory_id}: {events} event(s) and {records} long-term record(s) of {} user(s) erased (not moved)",
        subs.len()
    ));

    let plan = targets
        .usage_plans
        .get(to)
        .ok_or_else(|| AdminError::MissingOutput(format!("usage plan of tier {to}")))?;
    let attached = attach(clients, plan, &row.api_key_id).await?;
    for (other, other_plan) in targets.usage_plans.iter().filter(|(t, _)| *t != to) {
        if detach(clients, other_plan, &row.api_key_id).await? {
            report(format!(
                "API key {}: detached from {other}'s usage plan",
                row.api_key_id
            ));
        }
    }
    report(format!(
        "API key {}: {} {to}'s usage plan {plan}",
        row.api_key_id,
        if attached {
            "attached to"
        } else {
            "already in"
        }
    ));

    clients
        .dynamodb
        .update_item()
        .table_name(&targets.clinic_table)
        .key(
            "clinic_id",
            aws_sdk_dynamodb::types::AttributeValue::S(clinic.to_string()),
        )
        .update_expression("SET #t = :t")
        .condition_expression("attribute_exists(clinic_id)")
        .expression_attribute_names("#t", "tier")
        .expression_attribute_values(
            ":t",
            aws_sdk_dynamodb::types::AttributeValue::S(to.to_string()),
        )
        .send()
        .await
        .map_err(AdminError::aws("DynamoDB UpdateItem (ClinicConfig)"))?;
    report(format!("{}: {clinic}'s tier {to}", targets.clinic_table));
    let docs = |t: &TierName| {
        targets
            .documents
            .get(t)
            .ok_or_else(|| AdminError::MissingOutput(format!("the documents bucket of tier {t}")))
    };
    let (old, new) = (docs(&from)?, docs(to)?);
    let moved = move_documents(&clients.s3, clinic, (&from, old), (to, new)).await?;
    report(format!(
        "documents: {} document(s) and {} sidecar(s) moved from s3://{}/{} to s3://{}/{}",
        moved.documents,
        moved.sidecars,
        old.bucket,
        clinic_prefix(&from, clinic),
        new.bucket,
        clinic_prefix(to, clinic)
    ));
    sync(&clients.bedrock_agent, &[old, new], wait, report).await?;

    registry.finish_tier_change(clinic, to.as_str()).await?;
    report(format!(
        "{clinic}: on {to}, active (the front door follows within the authorizer's cache time, about a minute)"
    ));
    Ok(())
}
