//! Erasing one user's memory in their tier's AgentCore Memory: every event of every session
//! of the user's actor, and every long-term record under the user's namespace paths (records
//! outlive their events: the tier file keeps them longer, so they are listed by namespace, not
//! by session).
//!
//! Ids are collected first and deleted after (a page token need not survive deletions under
//! it), then everything is listed again: a purge that finds something left reports it as an
//! error, so a re-run can finish it. AWS extracts long-term records asynchronously, so records
//! from events written just before the purge may appear after it (docs/deploying.md, open
//! checks): a second run removes them.

use aws_sdk_bedrockagentcore::types::MemoryRecordDeleteInput;
use tenant_context::{ClinicId, TenantContext, TierCatalog, TierConfig, TierName, UserKey};

use crate::AdminError;

/// BatchDeleteMemoryRecords takes at most 100 records a call (its service model).
const BATCH: usize = 100;

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub events: usize,
    pub records: usize,
}

/// The user `sub` of `clinic` on `tier` as Memory keys it (actor and namespaces). The role
/// plays no part in either; the tier file's first role stands in for it.
pub fn memory_owner(
    tiers: &TierCatalog,
    tier: &TierName,
    clinic: &ClinicId,
    sub: &str,
) -> Result<TenantContext, AdminError> {
    let role = tiers
        .roles()
        .next()
        .map(|(r, _)| r.clone())
        .ok_or_else(|| AdminError::Conflict("infra/tiers.json names no role".into()))?;
    Ok(TenantContext::new(
        tier.clone(),
        clinic.clone(),
        UserKey::parse(sub)?,
        role,
    ))
}

/// One tier's Memory, through one client.
#[derive(Debug, Clone)]
pub struct TierMemory<'a> {
    pub client: &'a aws_sdk_bedrockagentcore::Client,
    pub memory_id: &'a str,
}

impl TierMemory<'_> {
    /// Erases `user`'s events and long-term records (`user`'s role plays no part: the actor
    /// and the namespaces are the tier's, clinic's and user's).
    pub async fn purge(
        &self,
        user: &TenantContext,
        tier: &TierConfig,
    ) -> Result<Purged, AdminError> {
        let events = self.events_of(user).await?;
        for (session, event) in &events {
            self.client
                .delete_event()
                .memory_id(self.memory_id)
                .actor_id(user.actor_id().as_str())
                .session_id(session)
                .event_id(event)
                .send()
                .await
                .map_err(AdminError::aws("AgentCore Memory DeleteEvent"))?;
        }
        let records = self.records_of(user, tier).await?;
        for batch in records.chunks(BATCH) {
            let out = self
                .client
                .batch_delete_memory_records()
                .memory_id(self.memory_id)
                .set_records(Some(
                    batch
                        .iter()
                        .map(|(id, namespace)| {
                            MemoryRecordDeleteInput::builder()
                                .memory_record_id(id)
                                .namespace(namespace)
                                .build()
                                .map_err(AdminError::aws("AgentCore Memory record id"))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ))
                .send()
                .await
                .map_err(AdminError::aws("AgentCore Memory BatchDeleteMemoryRecords"))?;
            if let Some(failed) = out.failed_records().first() {
                return Err(AdminError::Incomplete(format!(
                    "{} memory record(s) of {} were not deleted (first: {}: {}); run the command again",
                    out.failed_records().len(),
                    user.actor_id().as_str(),
                    failed.memory_record_id(),
                    failed.error_message().unwrap_or("no reason given"),
                )));
            }
        }
        let left = (
            self.events_of(user).await?.len(),
            self.records_of(user, tier).await?.len(),
        );
        if left != (0, 0) {
            return Err(AdminError::Incomplete(format!(
                "{} event(s) and {} record(s) of {} are still in memory {}; run the command again",
                left.0,
                left.1,
                user.actor_id().as_str(),
                self.memory_id
            )));
        }
        Ok(Purged {
            events: events.len(),
            records: records.len(),
        })
    }

    /// (session id, event id) of every event of the user's actor.
    async fn events_of(&self, user: &TenantContext) -> Result<Vec<(String, String)>, AdminError> {
        let actor = user.actor_id();
        let mut sessions = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_sessions()
                .memory_id(self.memory_id)
                .actor_id(actor.as_str())
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(AdminError::aws("AgentCore Memory ListSessions"))?;
            sessions.extend(
                page.session_summaries()
                    .iter()
                    .filter(|s| s.actor_id() == actor.as_str())
                    .map(|s| s.session_id().to_owned()),
            );
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let mut events = Vec::new();
        for session in sessions {
            let mut token = None;
            loop {
                let page = self
                    .client
                    .list_events()
                    .memory_id(self.memory_id)
                    .actor_id(actor.as_str())
                    .session_id(&session)
                    .include_payloads(false)
                    .max_results(100)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(AdminError::aws("AgentCore Memory ListEvents"))?;
                events.extend(
                    page.events()
                        .iter()
                        .filter(|e| e.actor_id() == actor.as_str())
                        .map(|e| (session.clone(), e.event_id().to_owned())),
                );
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(events)
    }

    /// (record id, namespace) of every record under the user's namespace paths. Each record
    /// is checked to lie under the path it was listed by, whatever the service matched.
    async fn records_of(
        &self,
        user: &TenantContext,
        tier: &TierConfig,
    ) -> Result<Vec<(String, String)>, AdminError> {
        let mut records = Vec::new();
        for strategy in &tier.memory.strategies {
            let path = user.memory_namespace_path(strategy)?;
            let mut token = None;
            loop {
                let page = self
                    .client
                    .list_memory_records()
                    .memory_id(self.memory_id)
                    .namespace_path(&path)
                    .max_results(100)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(AdminError::aws("AgentCore Memory ListMemoryRecords"))?;
                for r in page.memory_record_summaries() {
                    if let Some(ns) = r.namespaces().iter().find(|n| n.starts_with(&path))
                        && !records.iter().any(|(id, _)| id == r.memory_record_id())
                    {
                        records.push((r.memory_record_id().to_owned(), ns.clone()));
                    }
                }
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(records)
    }
}
