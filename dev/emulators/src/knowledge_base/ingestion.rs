//! The LOCAL EMULATION of the two Bedrock Agent (control plane) calls a tier change makes on
//! the knowledge bases: `StartIngestionJob` (`PUT /knowledgebases/{id}/datasources/{ds}/
//! ingestionjobs/`, 202) syncs the knowledge base again from its data source (the S3 stand-in
//! bucket), and `GetIngestionJob` reports the job, as AWS does, with its statistics. Every
//! request is checked against botocore's `bedrock-agent` model first.
//!
//! Known difference from AWS: the sync runs within the start call; the job answers `STARTING`
//! there and `COMPLETE` from then on, so a caller's polling is exercised.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Inner as KnowledgeBases, KnowledgeBaseEmulation, error};

/// The local data source id of a tier's knowledge base (AWS ids are 10 letters and digits).
pub fn demo_data_source_id(tier: &str) -> String {
    let mut id: String = format!("LDS{}", tier.to_ascii_uppercase())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    while id.len() < 10 {
        id.push('0');
    }
    id
}

/// The emulation's state: the knowledge bases it syncs, their data sources, the jobs.
pub struct Inner {
    knowledge_bases: Arc<KnowledgeBases>,
    /// knowledge base id -> its data source id.
    data_sources: HashMap<String, String>,
    jobs: Mutex<HashMap<String, Value>>,
}

/// A running emulation; dropping it stops the server.
pub type IngestionEmulation = crate::aws_model::layer::Served<Inner>;

impl IngestionEmulation {
    /// Serves ingestion for `knowledge_bases`, each knowledge base with the data source id
    /// `data_source_id(its id)`, on 127.0.0.1:`port` (0: any).
    pub async fn start(
        knowledge_bases: &KnowledgeBaseEmulation,
        data_sources: HashMap<String, String>,
        port: u16,
    ) -> std::io::Result<Self> {
        let inner = Inner {
            knowledge_bases: knowledge_bases.shared(),
            data_sources,
            jobs: Mutex::new(HashMap::new()),
        };
        let app = axum::Router::new()
            // With and without the trailing slash botocore writes and the SDKs leave out.
            .route(
                "/knowledgebases/{kb}/datasources/{ds}/ingestionjobs",
                axum::routing::put(start_job),
            )
            .route(
                "/knowledgebases/{kb}/datasources/{ds}/ingestionjobs/",
                axum::routing::put(start_job),
            )
            .route(
                "/knowledgebases/{kb}/datasources/{ds}/ingestionjobs/{job}",
                axum::routing::get(get_job),
            );
        Self::serve(
            app,
            inner,
            "bedrock-agent",
            &["StartIngestionJob", "GetIngestionJob"],
            port,
        )
        .await
    }
}

fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, "ResourceNotFoundException", what)
}

/// Now, as the model's `DateTimestamp` is written (`timestampFormat: iso8601`).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn start_job(
    State(inner): State<Arc<Inner>>,
    Path((kb, ds)): Path<(String, String)>,
) -> Response {
    if inner.data_sources.get(&kb) != Some(&ds) {
        return not_found("no such knowledge base or data source");
    }
    let started = now();
    let synced = match inner.knowledge_bases.resync(&kb).await {
        None => return not_found("no such knowledge base"),
        Some(Err(e)) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                &e.to_string(),
            );
        }
        Some(Ok(s)) => s,
    };
    let Ok(mut jobs) = inner.jobs.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "jobs poisoned",
        );
    };
    let id = format!("LJOB{:06}", jobs.len() + 1);
    let job = |status: &str| {
        json!({
            "knowledgeBaseId": kb, "dataSourceId": ds, "ingestionJobId": id,
            "status": status, "startedAt": started, "updatedAt": now(),
            "statistics": {
                "numberOfDocumentsScanned": synced.scanned,
                "numberOfNewDocumentsIndexed": synced.new,
                "numberOfModifiedDocumentsIndexed": 0,
                "numberOfDocumentsDeleted": synced.deleted,
                "numberOfDocumentsFailed": 0,
            },
        })
    };
    jobs.insert(id.clone(), job("COMPLETE"));
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "ingestionJob": job("STARTING") })),
    )
        .into_response()
}

async fn get_job(
    State(inner): State<Arc<Inner>>,
    Path((kb, ds, job)): Path<(String, String, String)>,
) -> Response {
    let found = inner
        .jobs
        .lock()
        .ok()
        .and_then(|jobs| jobs.get(&job).cloned())
        .filter(|j| j["knowledgeBaseId"] == kb.as_str() && j["dataSourceId"] == ds.as_str());
    match found {
        Some(j) => axum::Json(json!({ "ingestionJob": j })).into_response(),
        None => not_found("no such ingestion job"),
    }
}
