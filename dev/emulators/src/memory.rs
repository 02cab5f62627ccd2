//! The LOCAL EMULATION of AgentCore Memory's data plane: the three routes the agent uses, on
//! 127.0.0.1, reached by the real `aws-sdk-bedrockagentcore` client through endpoint
//! configuration. It follows AWS, not moto's mock:
//!
//! - `CreateEvent` (`POST /memories/{memoryId}/events`): the event is stored whole (all its
//!   payload items at once);
//! - `ListEvents` (`POST /memories/{memoryId}/actor/{actorId}/sessions/{sessionId}`): NEWEST
//!   FIRST, as AWS returns them, `maxResults` honoured, payloads only when asked;
//! - `RetrieveMemoryRecords` (`POST /memories/{memoryId}/retrieve`): records whose namespace
//!   starts with the requested one (AWS matches by prefix), ranked by words shared with the
//!   query.
//!
//! And what an operator's erasure of one user's memory uses (tenant-admin):
//!
//! - `ListSessions` (`POST /memories/{memoryId}/actor/{actorId}/sessions`), `ListEvents` and
//!   `DeleteEvent` (`DELETE .../sessions/{sessionId}/events/{eventId}`), paginated with
//!   `nextToken` as AWS pages them;
//! - `ListMemoryRecords` (`POST /memories/{memoryId}/memoryRecords`): by exact `namespace`, or
//!   by `namespacePath`, read here as "the namespace starts with it" (AWS: "falls under the
//!   same parent hierarchy"); `BatchDeleteMemoryRecords` (at most 100 a call, as the model
//!   says), each record answered `SUCCEEDED` or `FAILED`.
//!
//! Long-term records: AWS extracts them asynchronously with the memory's strategies, from the
//! whole conversation (the assistant's turns as well as the user's), and an event's metadata
//! does not travel onto the records. Here each message, user's or assistant's, becomes a record
//! at once, in every strategy namespace of the memory (with `{actorId}` and `{sessionId}` filled
//! in), untagged: so an answer the agent stores is recallable in every later session, as on
//! AWS. Event metadata is stored and returned with the event. Every request is first checked against AWS's
//! service model (`bedrock-agentcore`, [`crate::aws_model`]): ids, lengths, enums, required
//! members, as AWS refuses them, and CreateEvent answers 201 as AWS does. Unknown memories get
//! `ResourceNotFoundException`. IAM is NOT evaluated (no condition keys):
//! isolation here rests on the agent's own choice of actor, session and namespace, which the
//! tests check; the IAM policy text is checked apart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// The local memory id of a tier, in AWS's form (`<name>-<10 letters or digits>`, the
/// service model's pattern): the suffix says it is the local stand-in's.
pub fn local_memory_id(tier: &str) -> String {
    format!("tenantry_{tier}_memory-LOCALSTAND")
}

/// One memory: its id and its strategies' namespace templates.
#[derive(Debug, Clone)]
pub struct MemoryDefinition {
    pub memory_id: String,
    pub namespaces: Vec<String>,
}

/// One memory per tier of the tier file, with its strategies' namespace templates.
pub fn definitions(
    catalog: &tenant_context::TierCatalog,
    memory_id: impl Fn(&str) -> String,
) -> Vec<MemoryDefinition> {
    catalog
        .iter()
        .map(|(tier, config)| MemoryDefinition {
            memory_id: memory_id(tier.as_str()),
            namespaces: config
                .memory
                .strategies
                .iter()
                .map(|s| s.namespace.clone())
                .collect(),
        })
        .collect()
}

/// What the emulation was asked, for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryCall {
    pub operation: &'static str,
    pub memory_id: String,
    /// The actor (event APIs) or the namespace (record APIs).
    pub subject: String,
    /// The access key id the SigV4 signature names (whose credentials were used).
    pub access_key: String,
}

#[derive(Debug, Clone)]
struct StoredEvent {
    actor: String,
    session: String,
    seq: u64,
    timestamp: f64,
    payload: Value,
    metadata: Option<Value>,
}

#[derive(Debug, Clone)]
struct Record {
    id: String,
    text: String,
    namespace: String,
    strategy: String,
    created: f64,
}

#[derive(Default)]
struct Store {
    events: HashMap<String, Vec<StoredEvent>>,
    records: HashMap<String, Vec<Record>>,
    seq: u64,
    calls: Vec<MemoryCall>,
}

/// What CreateEvent does, for tests of what the agent does while a write is slow or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// Stores at once.
    Open,
    /// Waits until the writes are open (or failing) again.
    Held,
    /// Answers 500 `ServiceException` (as an outage would).
    Failing,
}

/// The emulation's state, shared by its handlers.
pub struct Inner {
    memories: Vec<MemoryDefinition>,
    store: Mutex<Store>,
    writes: tokio::sync::watch::Sender<Writes>,
    /// While true, ListEvents waits (before it is recorded).
    hold_lists: tokio::sync::watch::Sender<bool>,
}

/// A running emulation; dropping it stops the server.
pub type MemoryEmulation = crate::aws_model::layer::Served<Inner>;

/// The operations served, each checked against the `bedrock-agentcore` service model.
pub const OPERATIONS: [&str; 8] = [
    "CreateEvent",
    "ListActors",
    "ListEvents",
    "RetrieveMemoryRecords",
    "ListSessions",
    "DeleteEvent",
    "ListMemoryRecords",
    "BatchDeleteMemoryRecords",
];

impl MemoryEmulation {
    pub async fn start(memories: Vec<MemoryDefinition>, port: u16) -> std::io::Result<Self> {
        let inner = Inner {
            memories,
            store: Mutex::new(Store::default()),
            writes: tokio::sync::watch::Sender::new(Writes::Open),
            hold_lists: tokio::sync::watch::Sender::new(false),
        };
        let app = axum::Router::new()
            .route("/memories/{memory}/events", post(create_event))
            .route(
                "/memories/{memory}/actor/{actor}/sessions/{session}",
                post(list_events),
            )
            .route("/memories/{memory}/actors", post(erasure::list_actors))
            .route(
                "/memories/{memory}/actor/{actor}/sessions",
                post(erasure::list_sessions),
            )
            .route(
                "/memories/{memory}/actor/{actor}/sessions/{session}/events/{event}",
                axum::routing::delete(erasure::delete_event),
            )
            .route(
                "/memories/{memory}/memoryRecords",
                post(erasure::list_memory_records),
            )
            .route(
                "/memories/{memory}/memoryRecords/batchDelete",
                post(erasure::batch_delete_memory_records),
            )
            .route("/memories/{memory}/retrieve", post(retrieve));
        Self::serve(app, inner, "bedrock-agentcore", &OPERATIONS, port).await
    }

    /// Sets what CreateEvent does from now on (held writes go on when this changes).
    pub fn set_writes(&self, writes: Writes) {
        self.state().writes.send_replace(writes);
    }

    /// Holds every ListEvents (`true`) until released (`false`).
    pub fn hold_lists(&self, hold: bool) {
        self.state().hold_lists.send_replace(hold);
    }

    pub fn calls(&self) -> Vec<MemoryCall> {
        self.state()
            .store
            .lock()
            .map(|s| s.calls.clone())
            .unwrap_or_default()
    }

    /// Every stored event as (actor, session, payload), oldest first: what a test checks for
    /// half-written turns.
    pub fn events(&self) -> Vec<(String, String, Value)> {
        self.state()
            .store
            .lock()
            .map(|s| {
                let mut all: Vec<&StoredEvent> = s.events.values().flatten().collect();
                all.sort_by_key(|e| e.seq);
                all.into_iter()
                    .map(|e| (e.actor.clone(), e.session.clone(), e.payload.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every long-term record as (namespace, text): what a test checks for content that must
    /// never reach memory.
    pub fn records(&self) -> Vec<(String, String)> {
        self.state()
            .store
            .lock()
            .map(|s| {
                s.records
                    .values()
                    .flatten()
                    .map(|r| (r.namespace.clone(), r.text.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many events are stored for an actor (all sessions).
    pub fn event_count(&self, memory_id: &str, actor: &str) -> usize {
        self.state()
            .store
            .lock()
            .map(|s| {
                s.events
                    .get(memory_id)
                    .map(|e| e.iter().filter(|e| e.actor == actor).count())
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }
}

use crate::aws_error as error;

mod erasure;

fn access_key(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split('/').next())
        .unwrap_or_default()
        .to_owned()
}

impl Inner {
    fn memory(&self, id: &str) -> Option<&MemoryDefinition> {
        self.memories.iter().find(|m| m.memory_id == id)
    }

    fn log(&self, call: MemoryCall) {
        if let Ok(mut s) = self.store.lock() {
            s.calls.push(call);
        }
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn memory_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "memory not found",
    )
}

/// A data-plane call's headers (the caller's credentials) and its JSON body.
struct Call {
    headers: HeaderMap,
    body: Value,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Call {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let axum::Json(body) = axum::Json::<Value>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self { headers, body })
    }
}

async fn create_event(
    State(inner): State<Arc<Inner>>,
    Path(memory_id): Path<String>,
    Call { headers, body }: Call,
) -> Response {
    let Some(memory) = inner.memory(&memory_id).cloned() else {
        return memory_not_found();
    };
    let mut writes = inner.writes.subscribe();
    let _ = writes.wait_for(|w| *w != Writes::Held).await;
    if *writes.borrow() == Writes::Failing {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "writes are failing (injected)",
        );
    }
    // The service model has checked the ids, the payload and every length before this.
    let actor = body["actorId"].as_str().unwrap_or_default().to_owned();
    let session = body["sessionId"].as_str().unwrap_or_default().to_owned();
    let items = body["payload"].as_array().cloned().unwrap_or_default();
    let timestamp = body["eventTimestamp"].as_f64().unwrap_or_else(now_secs);
    inner.log(MemoryCall {
        operation: "CreateEvent",
        memory_id: memory_id.clone(),
        subject: actor.clone(),
        access_key: access_key(&headers),
    });
    let Ok(mut store) = inner.store.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "store poisoned",
        );
    };
    store.seq += 1;
    let seq = store.seq;
    let event = StoredEvent {
        actor: actor.clone(),
        session: session.clone(),
        seq,
        timestamp,
        payload: Value::Array(items.clone()),
        metadata: body.get("metadata").cloned(),
    };
    // Long-term records from the whole conversation, in every strategy namespace.
    for (j, item) in items.iter().enumerate() {
        let conv = &item["conversational"];
        if conv["role"] != "USER" && conv["role"] != "ASSISTANT" {
            continue;
        }
        let Some(text) = conv["content"]["text"].as_str() else {
            continue;
        };
        for (i, template) in memory.namespaces.iter().enumerate() {
            let namespace = template
                .replace("{actorId}", &actor)
                .replace("{sessionId}", &session);
            let record = Record {
                // AWS's ids are 40 to 50 characters (the service model refuses others), and
                // unique: the event's sequence, the turn's item and the strategy.
                id: format!("mem-localstandin-{seq:016}-{j:03}{i:03}"),
                text: text.to_owned(),
                namespace,
                strategy: format!("strategy-{i}"),
                created: timestamp,
            };
            store
                .records
                .entry(memory_id.clone())
                .or_default()
                .push(record);
        }
    }
    store
        .events
        .entry(memory_id.clone())
        .or_default()
        .push(event);
    axum::Json(json!({"event": event_json(&memory_id, &store.events[&memory_id][store.events[&memory_id].len() - 1], true)}))
        .into_response()
}

/// An event's id as AWS forms it (`[0-9]+#[a-fA-F0-9]+`): its time, then a sequence.
fn event_id(e: &StoredEvent) -> String {
    format!("{:013}#{:08}", (e.timestamp * 1000.0) as u64, e.seq)
}

fn event_json(memory_id: &str, e: &StoredEvent, with_payload: bool) -> Value {
    let mut event = json!({
        "memoryId": memory_id,
        "actorId": e.actor,
        "sessionId": e.session,
        "eventId": event_id(e),
        "eventTimestamp": e.timestamp,
        "payload": if with_payload { e.payload.clone() } else { json!([]) },
    });
    if let Some(metadata) = &e.metadata {
        event["metadata"] = metadata.clone();
    }
    event
}

async fn list_events(
    State(inner): State<Arc<Inner>>,
    Path((memory_id, actor, session)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Option<axum::Json<Value>>,
) -> Response {
    if inner.memory(&memory_id).is_none() {
        return memory_not_found();
    }
    let _ = inner.hold_lists.subscribe().wait_for(|held| !held).await;
    let actor = percent_encoding::percent_decode_str(&actor)
        .decode_utf8_lossy()
        .into_owned();
    inner.log(MemoryCall {
        operation: "ListEvents",
        memory_id: memory_id.clone(),
        subject: actor.clone(),
        access_key: access_key(&headers),
    });
    let body = body.map(|b| b.0).unwrap_or_default();
    let with_payload = body["includePayloads"].as_bool().unwrap_or(true);
    let Ok(store) = inner.store.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "store poisoned",
        );
    };
    let mut events: Vec<&StoredEvent> = store
        .events
        .get(&memory_id)
        .map(|e| {
            e.iter()
                .filter(|e| e.actor == actor && e.session == session)
                .collect()
        })
        .unwrap_or_default();
    // Newest first, as AWS returns them; the sequence orders events of the same second.
    events.sort_by(|a, b| b.timestamp.total_cmp(&a.timestamp).then(b.seq.cmp(&a.seq)));
    erasure::paged(&body, &events, "events", |e| {
        event_json(&memory_id, e, with_payload)
    })
}

async fn retrieve(
    State(inner): State<Arc<Inner>>,
    Path(memory_id): Path<String>,
    Call { headers, body }: Call,
) -> Response {
    if inner.memory(&memory_id).is_none() {
        return memory_not_found();
    }
    let Some(namespace) = body["namespace"].as_str().map(str::to_owned) else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "namespace is required",
        );
    };
    inner.log(MemoryCall {
        operation: "RetrieveMemoryRecords",
        memory_id: memory_id.clone(),
        subject: namespace.clone(),
        access_key: access_key(&headers),
    });
    let query = body["searchCriteria"]["searchQuery"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    let top_k = body["searchCriteria"]["topK"].as_u64().unwrap_or(10) as usize;
    let words: Vec<&str> = query.split_whitespace().collect();
    let Ok(store) = inner.store.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "store poisoned",
        );
    };
    let mut hits: Vec<(f64, &Record)> = store
        .records
        .get(&memory_id)
        .map(|r| {
            r.iter()
                .filter(|r| r.namespace.starts_with(&namespace))
                .map(|r| {
                    let text = r.text.to_lowercase();
                    let shared = words.iter().filter(|w| text.contains(*w)).count();
                    (shared as f64 / words.len().max(1) as f64, r)
                })
                .filter(|(score, _)| *score > 0.0)
                .collect()
        })
        .unwrap_or_default();
    hits.sort_by(|a, b| b.0.total_cmp(&a.0));
    let summaries: Vec<Value> = hits
        .into_iter()
        .take(top_k)
        .map(|(score, r)| {
            json!({
                "memoryRecordId": r.id,
                "content": {"text": r.text},
                "memoryStrategyId": r.strategy,
                "namespaces": [r.namespace],
                "createdAt": r.created,
                "score": score,
            })
        })
        .collect();
    axum::Json(json!({"memoryRecordSummaries": summaries})).into_response()
}
