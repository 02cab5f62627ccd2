//! The operations an operator's erasure (or export) of memory uses: list the actors, a user's
//! sessions, their events and the records under a namespace, and delete them (see the parent
//! module).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Call, Inner, MemoryCall, Record, access_key, error, memory_not_found};

/// The page of `items` that `body` asks for (`maxResults`, default 20, at most 100; a
/// `nextToken` this emulation issued), answered as `{key: [...], "nextToken"?}` as AWS pages.
/// A token it did not issue is refused, as AWS refuses one.
pub(super) fn paged<T>(
    body: &Value,
    items: &[T],
    key: &str,
    to_json: impl Fn(&T) -> Value,
) -> Response {
    let max = body["maxResults"].as_u64().unwrap_or(20).clamp(1, 100) as usize;
    let from = match body.get("nextToken").and_then(Value::as_str) {
        None => Some(0),
        Some(t) => t
            .strip_prefix("local-page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len()),
    };
    let Some(from) = from else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "invalid nextToken",
        );
    };
    let page: Vec<Value> = items[from..].iter().take(max).map(to_json).collect();
    let mut out = json!({ key: page });
    if from + max < items.len() {
        out["nextToken"] = format!("local-page-{}", from + max).into();
    }
    axum::Json(out).into_response()
}

fn decoded(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn poisoned() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        "store poisoned",
    )
}

/// Every actor with at least one event, in the order of their first event.
pub(super) async fn list_actors(
    State(inner): State<Arc<Inner>>,
    Path(memory_id): Path<String>,
    headers: HeaderMap,
    body: Option<axum::Json<Value>>,
) -> Response {
    if inner.memory(&memory_id).is_none() {
        return memory_not_found();
    }
    inner.log(MemoryCall {
        operation: "ListActors",
        memory_id: memory_id.clone(),
        subject: String::new(),
        access_key: access_key(&headers),
    });
    let body = body.map(|b| b.0).unwrap_or_default();
    let Ok(store) = inner.store.lock() else {
        return poisoned();
    };
    let mut actors: Vec<&str> = Vec::new();
    for e in store.events.get(&memory_id).into_iter().flatten() {
        if !actors.contains(&e.actor.as_str()) {
            actors.push(&e.actor);
        }
    }
    paged(&body, &actors, "actorSummaries", |a| json!({"actorId": a}))
}

pub(super) async fn list_sessions(
    State(inner): State<Arc<Inner>>,
    Path((memory_id, actor)): Path<(String, String)>,
    headers: HeaderMap,
    body: Option<axum::Json<Value>>,
) -> Response {
    if inner.memory(&memory_id).is_none() {
        return memory_not_found();
    }
    let actor = decoded(&actor);
    inner.log(MemoryCall {
        operation: "ListSessions",
        memory_id: memory_id.clone(),
        subject: actor.clone(),
        access_key: access_key(&headers),
    });
    let body = body.map(|b| b.0).unwrap_or_default();
    let Ok(store) = inner.store.lock() else {
        return poisoned();
    };
    // One summary per session, created at its first event.
    let mut sessions: Vec<(String, f64)> = Vec::new();
    for e in store.events.get(&memory_id).into_iter().flatten() {
        if e.actor != actor {
            continue;
        }
        match sessions.iter_mut().find(|(s, _)| *s == e.session) {
            Some((_, created)) => *created = created.min(e.timestamp),
            None => sessions.push((e.session.clone(), e.timestamp)),
        }
    }
    paged(
        &body,
        &sessions,
        "sessionSummaries",
        |(session, created)| json!({"sessionId": session, "actorId": actor, "createdAt": created}),
    )
}

pub(super) async fn delete_event(
    State(inner): State<Arc<Inner>>,
    Path((memory_id, actor, session, event)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if inner.memory(&memory_id).is_none() {
        return memory_not_found();
    }
    let (actor, event) = (decoded(&actor), decoded(&event));
    inner.log(MemoryCall {
        operation: "DeleteEvent",
        memory_id: memory_id.clone(),
        subject: actor.clone(),
        access_key: access_key(&headers),
    });
    let Ok(mut store) = inner.store.lock() else {
        return poisoned();
    };
    let events = store.events.entry(memory_id.clone()).or_default();
    let before = events.len();
    events.retain(|e| !(e.actor == actor && e.session == session && super::event_id(e) == event));
    if events.len() == before {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "event not found",
        );
    }
    axum::Json(json!({ "eventId": event })).into_response()
}

fn record_json(r: &Record) -> Value {
    json!({
        "memoryRecordId": r.id,
        "content": {"text": r.text},
        "memoryStrategyId": r.strategy,
        "namespaces": [r.namespace],
        "createdAt": r.created,
    })
}

pub(super) async fn list_memory_records(
    State(inner): State<Arc<Inner>>,
    Path(memory_id): Path<String>,
    Call { headers, body }: Call,
) -> Response {
    if inner.memory(&memory_id).is_none() {
        return memory_not_found();
    }
    let exact = body["namespace"].as_str().map(str::to_owned);
    let path = body["namespacePath"].as_str().map(str::to_owned);
    let subject = match (&exact, &path) {
        (Some(n), None) | (None, Some(n)) => n.clone(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "exactly one of namespace or namespacePath is required",
            );
        }
    };
    inner.log(MemoryCall {
        operation: "ListMemoryRecords",
        memory_id: memory_id.clone(),
        subject,
        access_key: access_key(&headers),
    });
    let Ok(store) = inner.store.lock() else {
        return poisoned();
    };
    let records: Vec<&Record> = store
        .records
        .get(&memory_id)
        .into_iter()
        .flatten()
        .filter(|r| match (&exact, &path) {
            (Some(n), _) => r.namespace == *n,
            (_, Some(p)) => r.namespace.starts_with(p.as_str()),
            _ => false,
        })
        .collect();
    paged(&body, &records, "memoryRecordSummaries", |r| record_json(r))
}

pub(super) async fn batch_delete_memory_records(
    State(inner): State<Arc<Inner>>,
    Path(memory_id): Path<String>,
    Call { headers, body }: Call,
) -> Response {
    if inner.memory(&memory_id).is_none() {
        return memory_not_found();
    }
    let ids: Vec<String> = body["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["memoryRecordId"].as_str().map(str::to_owned))
        .collect();
    inner.log(MemoryCall {
        operation: "BatchDeleteMemoryRecords",
        memory_id: memory_id.clone(),
        subject: ids.join(","),
        access_key: access_key(&headers),
    });
    let Ok(mut store) = inner.store.lock() else {
        return poisoned();
    };
    let records = store.records.entry(memory_id.clone()).or_default();
    let (mut succeeded, mut failed) = (Vec::new(), Vec::new());
    for id in ids {
        let before = records.len();
        records.retain(|r| r.id != id);
        if records.len() < before {
            succeeded.push(json!({"memoryRecordId": id, "status": "SUCCEEDED"}));
        } else {
            failed.push(json!({
                "memoryRecordId": id, "status": "FAILED",
                "errorCode": 404, "errorMessage": "memory record not found",
            }));
        }
    }
    axum::Json(json!({"successfulRecords": succeeded, "failedRecords": failed})).into_response()
}
