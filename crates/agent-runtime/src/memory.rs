//! Conversation memory in AgentCore Memory, always as the caller: credentials vended for this
//! tenant user with scope `memory` (their session tags are what the TVM role's IAM conditions
//! compare `actorId` and `namespace` with), the actor id derived from the verified token, the
//! session id derived from the (user-bound) runtime session id, and only the user's own
//! namespaces from the tier file. Nothing here takes an identifier from the prompt or the model.
//!
//! Before a turn: the last turns of this session (ListEvents returns them newest first on AWS)
//! and long-term records from each of the user's namespaces (RetrieveMemoryRecords with the
//! exact namespace, so the IAM condition has a value). After it: one CreateEvent holding both
//! the question and the answer, so a turn is stored whole or not at all.
//!
//! Memory never hands back what the tier's rules would refuse now. Business hours and roles are
//! decided where a tool runs, and AgentCore's long-term strategies extract records from the
//! whole conversation (assistant turns included) without carrying any tag of ours onto them, so
//! a stored answer quoting a patient record could not be held back later by a rule that
//! looked at the record. Instead, the answer of a turn in which a rule-guarded tool returned
//! content is never stored: the event keeps the question and a fixed note (`WITHHELD_ANSWER`)
//! saying the answer is looked up afresh, under the rules of that moment. Each event is tagged
//! with the caller's role (event metadata) and only events of the caller's current role are
//! replayed; a role that may use no guarded tool (admins) gets no long-term records at all.

use std::sync::Arc;
use std::time::SystemTime;

use agentcore::primitives::DateTime;
use agentcore::types::{
    Content, Conversational, Event, MemoryContent, MetadataValue, PayloadType, Role as MemoryRole,
    SearchCriteria,
};
use aws_sdk_bedrockagentcore as agentcore;
use scoped_credentials::{CredentialCache, IssueRequest, Issuer, Scope};
use tenant_context::{MemorySessionId, RecallRules, TenantContext, TierConfig};

use crate::model::{Message, Role};

/// Turns of the current session given back to the model.
pub const RECENT_TURNS: i32 = 5;
/// Long-term records per namespace.
pub const RECORDS_PER_NAMESPACE: i32 = 3;
/// RetrieveMemoryRecords' `searchCriteria.searchQuery`: 1 to 10,000 characters (the service
/// model); a prompt may be longer.
pub const MAX_SEARCH_QUERY_CHARS: usize = 10_000;
/// CreateEvent's conversational text: at most 100,000 characters (the service model).
pub const MAX_EVENT_TEXT_CHARS: usize = 100_000;

/// The event metadata key holding the role of the user who had the turn.
pub const ROLE_METADATA_KEY: &str = "tenantry.role";

/// What is stored in place of an answer that drew on a rule-guarded tool.
pub const WITHHELD_ANSWER: &str = "(This answer drew on patient records or clinic documents and \
     is not kept in memory: ask again to look it up under the clinic's rules at that time.)";

/// The last `max` characters of `text` (Smithy lengths count characters, not bytes): the
/// question usually ends a long prompt that pastes text before it.
pub fn last_chars(text: &str, max: usize) -> &str {
    match text.char_indices().rev().nth(max.saturating_sub(1)) {
        Some((start, _)) if max > 0 => &text[start..],
        _ if max == 0 => "",
        _ => text,
    }
}

/// The first `max` characters of `text`.
pub fn first_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("no memory-scoped credentials for this user: {0}")]
    Credentials(#[from] scoped_credentials::Error),
    #[error("AgentCore Memory call {operation} failed: {message}")]
    Service {
        operation: &'static str,
        message: String,
    },
    #[error("a memory namespace could not be formed: {0}")]
    Namespace(#[from] tenant_context::Error),
}

fn service<E: std::error::Error + 'static>(operation: &'static str) -> impl Fn(E) -> MemoryError {
    move |e| MemoryError::Service {
        operation,
        // The error's own code and message only: never the request or response body.
        message: crate::brief_sdk_error(&e),
    }
}

/// What memory gives a turn.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recall {
    /// Earlier turns of this session, oldest first.
    pub turns: Vec<Message>,
    /// Long-term records of this user.
    pub facts: Vec<String>,
    /// The ids of the records behind `facts` (for the audit trail).
    pub record_ids: Vec<String>,
}

/// The tier's memory and how to reach it.
pub struct AgentMemory {
    sdk: aws_types::SdkConfig,
    memory_id: String,
    credentials: Arc<CredentialCache<Issuer>>,
}

/// A memory session of one invocation: one user, one client with their credentials.
pub struct MemorySession<'a> {
    memory: &'a AgentMemory,
    client: agentcore::Client,
    ctx: &'a TenantContext,
    session: MemorySessionId,
}

impl AgentMemory {
    /// `sdk` carries the region, the endpoint (`AWS_ENDPOINT_URL_BEDROCK_AGENTCORE` locally)
    /// and the one HTTP client every per-user client shares (one connection pool).
    pub fn new(
        sdk: aws_types::SdkConfig,
        memory_id: String,
        credentials: Arc<CredentialCache<Issuer>>,
    ) -> Self {
        Self {
            sdk,
            memory_id,
            credentials,
        }
    }

    /// A client acting as the caller, for one invocation.
    #[tracing::instrument(name = "memory.open", skip_all)]
    pub async fn open<'a>(
        &'a self,
        id_token: &str,
        ctx: &'a TenantContext,
        session: MemorySessionId,
    ) -> Result<MemorySession<'a>, MemoryError> {
        let creds = self
            .credentials
            .get(IssueRequest {
                id_token,
                tenant: ctx,
                scope: Scope::Memory,
            })
            .await?;
        let config = agentcore::config::Builder::from(&self.sdk)
            .credentials_provider(creds.to_aws())
            .build();
        Ok(MemorySession {
            memory: self,
            client: agentcore::Client::from_conf(config),
            ctx,
            session,
        })
    }
}

impl MemorySession<'_> {
    #[tracing::instrument(name = "memory.recall", skip_all)]
    pub async fn recall(
        &self,
        tier: &TierConfig,
        rules: &RecallRules,
        query: &str,
    ) -> Result<Recall, MemoryError> {
        let actor = self.ctx.actor_id();
        let query = last_chars(query.trim(), MAX_SEARCH_QUERY_CHARS);
        // Long-term records come from whole conversations: nothing of them for a role that may
        // see no clinical content.
        let strategies: &[_] = if query.is_empty() || !rules.clinical_role(self.ctx.role()) {
            &[]
        } else {
            &tier.memory.strategies
        };
        // The session's turns and every namespace's records at once: one round trip of wait.
        let list = self
            .client
            .list_events()
            .memory_id(&self.memory.memory_id)
            .actor_id(actor.as_str())
            .session_id(self.session.as_str())
            .include_payloads(true)
            .max_results(RECENT_TURNS)
            .send();
        let searches = strategies.iter().map(|strategy| async move {
            let namespace = self.ctx.memory_namespace(strategy, Some(&self.session))?;
            let criteria = SearchCriteria::builder()
                .search_query(query)
                .top_k(RECORDS_PER_NAMESPACE)
                .build()
                .map_err(service("RetrieveMemoryRecords"))?;
            self.client
                .retrieve_memory_records()
                .memory_id(&self.memory.memory_id)
                .namespace(namespace)
                .search_criteria(criteria)
                .send()
                .await
                .map_err(service("RetrieveMemoryRecords"))
        });
        let (listed, found) = tokio::join!(list, futures::future::try_join_all(searches));
        let listed = listed.map_err(service("ListEvents"))?;
        let found = found?;
        let mut turns = Vec::new();
        // Newest first on AWS: walk them backwards to give the model the oldest first.
        // Only turns had in the caller's current role: a role change does not carry over
        // what the old role was told (an untagged event is nobody's, and is skipped).
        let own_role = |event: &&Event| {
            event
                .metadata()
                .and_then(|m| m.get(ROLE_METADATA_KEY))
                .and_then(|v| v.as_string_value().ok())
                .is_some_and(|role| role == self.ctx.role().as_str())
        };
        for event in listed.events().iter().rev().filter(own_role) {
            for item in event.payload() {
                let PayloadType::Conversational(c) = item else {
                    continue;
                };
                let Some(Content::Text(text)) = c.content() else {
                    continue;
                };
                let role = match c.role() {
                    MemoryRole::User => Role::User,
                    MemoryRole::Assistant => Role::Assistant,
                    _ => continue,
                };
                turns.push(Message::text(role, text.clone()));
            }
        }
        let mut facts = Vec::new();
        let mut record_ids = Vec::new();
        for summary in found.iter().flat_map(|r| r.memory_record_summaries()) {
            if let Some(MemoryContent::Text(text)) = summary.content()
                && !facts.contains(text)
            {
                facts.push(text.clone());
                record_ids.push(summary.memory_record_id().to_owned());
            }
        }
        Ok(Recall {
            turns,
            facts,
            record_ids,
        })
    }

    /// Stores the turn: question and answer in one event, tagged with the caller's role. When
    /// `guarded` (a rule-guarded tool returned content in the turn), `WITHHELD_ANSWER` is
    /// stored instead of the answer.
    #[tracing::instrument(name = "memory.store", skip_all)]
    pub async fn remember(
        &self,
        question: &str,
        answer: &str,
        guarded: bool,
    ) -> Result<(), MemoryError> {
        let answer = if guarded { WITHHELD_ANSWER } else { answer };
        let item = |role: MemoryRole, text: &str| {
            Conversational::builder()
                .content(Content::Text(
                    first_chars(text, MAX_EVENT_TEXT_CHARS).to_owned(),
                ))
                .role(role)
                .build()
                .map(PayloadType::Conversational)
                .map_err(service("CreateEvent"))
        };
        // A text is 1 to 100,000 characters: an empty side of the turn is left out.
        let mut payload = Vec::new();
        for (role, text) in [
            (MemoryRole::User, question),
            (MemoryRole::Assistant, answer),
        ] {
            if !text.trim().is_empty() {
                payload.push(item(role, text)?);
            }
        }
        if payload.is_empty() {
            return Ok(());
        }
        self.client
            .create_event()
            .memory_id(&self.memory.memory_id)
            .actor_id(self.ctx.actor_id().as_str())
            .session_id(self.session.as_str())
            .metadata(
                ROLE_METADATA_KEY,
                MetadataValue::StringValue(self.ctx.role().as_str().to_owned()),
            )
            .event_timestamp(DateTime::from(SystemTime::now()))
            .set_payload(Some(payload))
            .send()
            .await
            .map_err(service("CreateEvent"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_counted_in_characters_at_character_boundaries() {
        assert_eq!(last_chars("abcdef", 3), "def");
        assert_eq!(last_chars("ab", 3), "ab");
        assert_eq!(last_chars("abc", 0), "");
        assert_eq!(last_chars("éàü", 2), "àü");
        assert_eq!(first_chars("éàü", 2), "éà");
        assert_eq!(first_chars("ab", 5), "ab");
        let long = "x".repeat(15 * 1024);
        assert_eq!(
            last_chars(&long, MAX_SEARCH_QUERY_CHARS).chars().count(),
            MAX_SEARCH_QUERY_CHARS
        );
    }
}
