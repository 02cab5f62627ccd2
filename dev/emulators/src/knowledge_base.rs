//! The LOCAL EMULATION of Bedrock Knowledge Base `Retrieve` (`POST /knowledgebases/{id}/retrieve`)
//! on 127.0.0.1, reached by the real `aws-sdk-bedrockagentruntime` client through endpoint
//! configuration. Its sync reads the documents from a bucket on the S3 stand-in (the devstack
//! uploads them there in the deployed layout: `<tier>-tier/<clinic>/<doc-type>/<file>` with
//! `<file>.metadata.json` sidecars), or for tests straight from a folder in that layout, and it
//! answers with the AWS response shape: text, S3 location, score and the sidecar's metadata.
//!
//! Known differences from AWS: ranking is BM25 over words (tantivy), not vector similarity (no
//! embedding model can be had offline); filters support `equals` and `andAll` of them, any
//! other filter is a `ValidationException`. Like AWS, a call WITHOUT a filter searches every
//! clinic's documents of the knowledge base: the clinic filter is the caller's duty.

use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TEXT, Value as _};
use tantivy::{Index, IndexReader, TantivyDocument, Term, doc};

/// Metadata keys a filter may name (the sidecars' attributes).
pub const FILTER_KEYS: [&str; 3] = ["clinic_id", "tier", "document_type"];

/// The synthetic document set (`infra/demo-documents`, deployed layout).
pub const DEMO_DOCUMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/demo-documents");

/// The local knowledge base id of a tier (AWS ids are 10 upper-case letters and digits).
pub fn demo_knowledge_base_id(tier: &str) -> String {
    let mut id: String = format!("LOCAL{}", tier.to_ascii_uppercase())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    while id.len() < 10 {
        id.push('0');
    }
    id
}

/// One knowledge base per tier of the tier file over the synthetic documents folder, each
/// limited to its tier's prefix as the deployed data sources are (tests).
pub fn demo_sources(catalog: &tenant_context::TierCatalog) -> Vec<KnowledgeBaseSource> {
    catalog
        .iter()
        .map(|(tier, _)| KnowledgeBaseSource {
            knowledge_base_id: demo_knowledge_base_id(tier.as_str()),
            bucket: format!("tenantry-{tier}-documents-local"),
            origin: Origin::Folder(PathBuf::from(DEMO_DOCUMENTS)),
            prefix: format!("{tier}-tier/"),
        })
        .collect()
}

/// Uploads the synthetic documents of each tier (and their sidecars) to `bucket_of(tier)` on
/// the S3 stand-in, in the deployed layout, and returns the knowledge bases over those buckets.
pub async fn upload_demo_documents(
    s3: &testkit::s3::LocalS3,
    catalog: &tenant_context::TierCatalog,
    bucket_of: impl Fn(&str) -> String,
) -> Result<Vec<KnowledgeBaseSource>, KnowledgeBaseError> {
    let root = PathBuf::from(DEMO_DOCUMENTS);
    let mut sources = Vec::new();
    for (tier, _) in catalog.iter() {
        let bucket = bucket_of(tier.as_str());
        let prefix = format!("{tier}-tier/");
        s3.create_bucket(&bucket).await?;
        let mut paths = Vec::new();
        files(&root.join(&prefix), &mut paths, true)?;
        for path in paths {
            let key = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            s3.put(&bucket, &key, std::fs::read(&path)?).await?;
        }
        sources.push(KnowledgeBaseSource {
            knowledge_base_id: demo_knowledge_base_id(tier.as_str()),
            origin: Origin::S3(s3.clone()),
            bucket,
            prefix,
        });
    }
    Ok(sources)
}

/// Where a knowledge base's data source reads its documents.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A folder standing for the bucket's root.
    Folder(PathBuf),
    /// The bucket itself, on the S3 stand-in.
    S3(testkit::s3::LocalS3),
}

/// One knowledge base: its id, and the documents it was synced from.
#[derive(Debug, Clone)]
pub struct KnowledgeBaseSource {
    pub knowledge_base_id: String,
    /// The bucket (named in the results' `s3://` URIs).
    pub bucket: String,
    pub origin: Origin,
    /// The data source's inclusion prefix, e.g. `basic-tier/`.
    pub prefix: String,
}

/// A document and its sidecar, as a sync reads them.
struct SourceDocument {
    key: String,
    text: String,
    sidecar: Value,
}

/// The data source's documents (every object under the prefix but the sidecars), sorted by key.
async fn read_source(
    source: &KnowledgeBaseSource,
) -> Result<Vec<SourceDocument>, KnowledgeBaseError> {
    let sidecar_of = |key: &str| format!("{key}.metadata.json");
    let mut docs = Vec::new();
    match &source.origin {
        Origin::Folder(root) => {
            let mut paths = Vec::new();
            files(&root.join(&source.prefix), &mut paths, false)?;
            for path in paths {
                let key = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let sidecar = std::fs::read_to_string(root.join(sidecar_of(&key)))
                    .ok()
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or_default();
                docs.push(SourceDocument {
                    text: std::fs::read_to_string(&path)?,
                    key,
                    sidecar,
                });
            }
        }
        Origin::S3(s3) => {
            let keys = s3.list(&source.bucket, &source.prefix).await?;
            for key in keys.iter().filter(|k| !k.ends_with(".metadata.json")) {
                let text =
                    String::from_utf8_lossy(&s3.get(&source.bucket, key).await?).into_owned();
                let sidecar = match keys.contains(&sidecar_of(key)) {
                    true => {
                        serde_json::from_slice(&s3.get(&source.bucket, &sidecar_of(key)).await?)
                            .unwrap_or_default()
                    }
                    false => Value::Null,
                };
                docs.push(SourceDocument {
                    key: key.clone(),
                    text,
                    sidecar,
                });
            }
        }
    }
    docs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(docs)
}

/// What a sync found: the documents in the source, those new since the last sync, and those
/// it dropped (no longer in the source), as an ingestion job's statistics count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    pub scanned: usize,
    pub new: usize,
    pub deleted: usize,
}

/// Re-reads `kb`'s data source and replaces its index with what is there now, as a data
/// source sync leaves a knowledge base: deleted objects' documents gone, new ones indexed.
async fn sync(kb: &Kb, fields: &Fields) -> Result<Synced, KnowledgeBaseError> {
    let docs = read_source(&kb.source).await?;
    let before: std::collections::BTreeSet<String> = {
        let searcher = kb.reader.searcher();
        let mut uris = std::collections::BTreeSet::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            for id in segment.doc_ids_alive() {
                let d: TantivyDocument = searcher.doc(tantivy::DocAddress::new(ord as u32, id))?;
                if let Some(uri) = d.get_first(fields.uri).and_then(|v| v.as_str()) {
                    uris.insert(uri.to_owned());
                }
            }
        }
        uris
    };
    let mut writer = kb.index.writer_with_num_threads(1, 15_000_000)?;
    writer.delete_all_documents()?;
    let mut after = std::collections::BTreeSet::new();
    for d in docs {
        let attrs = d.sidecar["metadataAttributes"].as_object().ok_or_else(|| {
            KnowledgeBaseError::Sidecar {
                path: format!("{}.metadata.json", d.key),
            }
        })?;
        let uri = format!("s3://{}/{}", kb.source.bucket, d.key);
        let mut document = doc!(
            fields.text => d.text,
            fields.uri => uri.clone(),
        );
        for (field, name) in fields.meta.iter().zip(FILTER_KEYS) {
            if let Some(v) = attrs.get(name).and_then(Value::as_str) {
                document.add_text(*field, v);
            }
        }
        writer.add_document(document)?;
        after.insert(uri);
    }
    writer.commit()?;
    kb.reader.reload()?;
    Ok(Synced {
        scanned: after.len(),
        new: after.difference(&before).count(),
        deleted: before.difference(&after).count(),
    })
}

/// A call, for tests: which knowledge base and the filter sent (`None`: no filter).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrieveCall {
    pub knowledge_base_id: String,
    pub filter: Option<Value>,
}

struct Fields {
    text: Field,
    uri: Field,
    meta: [Field; 3],
}

struct Kb {
    id: String,
    index: Index,
    reader: IndexReader,
    /// Where a sync reads (again, for StartIngestionJob).
    source: KnowledgeBaseSource,
}

/// The emulation's state, shared by its handlers.
pub struct Inner {
    kbs: Vec<Kb>,
    fields: Fields,
    calls: Mutex<Vec<RetrieveCall>>,
}

/// A running emulation; dropping it stops the server.
pub type KnowledgeBaseEmulation = crate::aws_model::layer::Served<Inner>;

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeBaseError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Index(#[from] tantivy::TantivyError),
    #[error("{path}: the metadata sidecar is not {{\"metadataAttributes\": {{...}}}}")]
    Sidecar { path: String },
    #[error(transparent)]
    Storage(#[from] testkit::Error),
}

/// The files under `dir`; the `.metadata.json` sidecars too when `sidecars`.
fn files(dir: &FsPath, out: &mut Vec<PathBuf>, sidecars: bool) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out, sidecars)?;
        } else if sidecars || !path.to_string_lossy().ends_with(".metadata.json") {
            out.push(path);
        }
    }
    Ok(())
}

impl KnowledgeBaseEmulation {
    /// Indexes every source (a sync, done once) and serves on 127.0.0.1:`port` (0: any).
    pub async fn start(
        sources: Vec<KnowledgeBaseSource>,
        port: u16,
    ) -> Result<Self, KnowledgeBaseError> {
        let mut builder = Schema::builder();
        let fields = Fields {
            text: builder.add_text_field("text", TEXT | STORED),
            uri: builder.add_text_field("uri", STRING | STORED),
            meta: FILTER_KEYS.map(|k| builder.add_text_field(k, STRING | STORED)),
        };
        let schema = builder.build();
        let mut kbs = Vec::new();
        for source in sources {
            let index = Index::create_in_ram(schema.clone());
            let reader = index.reader()?;
            let kb = Kb {
                id: source.knowledge_base_id.clone(),
                index,
                reader,
                source,
            };
            sync(&kb, &fields).await?;
            kbs.push(kb);
        }
        let inner = Inner {
            kbs,
            fields,
            calls: Mutex::new(Vec::new()),
        };
        let app = axum::Router::new().route("/knowledgebases/{id}/retrieve", post(retrieve));
        Ok(Self::serve(app, inner, "bedrock-agent-runtime", &["Retrieve"], port).await?)
    }

    /// Adds one document to a knowledge base, as a sync of one new object in its bucket
    /// would: `s3://{bucket}/{key}` with `text` and its sidecar's metadata `attributes`.
    pub fn ingest(
        &self,
        knowledge_base_id: &str,
        bucket: &str,
        key: &str,
        text: &str,
        attributes: &[(&str, &str)],
    ) -> Result<(), KnowledgeBaseError> {
        let kb = self
            .state()
            .kbs
            .iter()
            .find(|kb| kb.id == knowledge_base_id)
            .ok_or_else(|| {
                testkit::Error::Config(format!("no knowledge base {knowledge_base_id}"))
            })?;
        let fields = &self.state().fields;
        let mut document = doc!(
            fields.text => text,
            fields.uri => format!("s3://{bucket}/{key}"),
        );
        for (field, name) in fields.meta.iter().zip(FILTER_KEYS) {
            if let Some((_, v)) = attributes.iter().find(|(k, _)| *k == name) {
                document.add_text(*field, v);
            }
        }
        let mut writer = kb.index.writer_with_num_threads(1, 15_000_000)?;
        writer.add_document(document)?;
        writer.commit()?;
        kb.reader.reload()?;
        Ok(())
    }

    /// What knowledge base `id` holds now, for tests: each document's `s3://` URI and its
    /// metadata (`clinic_id`, `tier`, `document_type`), sorted by URI.
    pub fn indexed(&self, id: &str) -> Vec<(String, Vec<(String, String)>)> {
        let state = self.state();
        let Some(kb) = state.kbs.iter().find(|kb| kb.id == id) else {
            return Vec::new();
        };
        let searcher = kb.reader.searcher();
        let mut out = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            for doc_id in segment.doc_ids_alive() {
                let Ok(d) =
                    searcher.doc::<TantivyDocument>(tantivy::DocAddress::new(ord as u32, doc_id))
                else {
                    continue;
                };
                let text = |f: Field| d.get_first(f).and_then(|v| v.as_str()).map(str::to_owned);
                let meta = state
                    .fields
                    .meta
                    .iter()
                    .zip(FILTER_KEYS)
                    .filter_map(|(f, k)| text(*f).map(|v| (k.to_owned(), v)))
                    .collect();
                out.push((text(state.fields.uri).unwrap_or_default(), meta));
            }
        }
        out.sort();
        out
    }

    pub fn calls(&self) -> Vec<RetrieveCall> {
        self.state()
            .calls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }
}

use crate::aws_error as error;

mod ingestion;
pub use ingestion::{IngestionEmulation, demo_data_source_id};

impl Inner {
    /// Syncs the knowledge base `id` again from its data source; `None` if there is none.
    async fn resync(&self, id: &str) -> Option<Result<Synced, KnowledgeBaseError>> {
        let kb = self.kbs.iter().find(|kb| kb.id == id)?;
        Some(sync(kb, &self.fields).await)
    }

    /// The filter as a query: `equals` on a metadata key, or `andAll` of such filters.
    fn filter(&self, f: &Value) -> Result<Box<dyn Query>, String> {
        if let Some(eq) = f.get("equals") {
            let key = eq["key"].as_str().unwrap_or_default();
            let value = eq["value"].as_str().ok_or("equals needs a string value")?;
            let at = FILTER_KEYS
                .iter()
                .position(|k| *k == key)
                .ok_or_else(|| format!("unknown metadata key `{key}`"))?;
            return Ok(Box::new(TermQuery::new(
                Term::from_field_text(self.fields.meta[at], value),
                IndexRecordOption::Basic,
            )));
        }
        if let Some(all) = f.get("andAll").and_then(Value::as_array) {
            let parts = all
                .iter()
                .map(|p| self.filter(p).map(|q| (Occur::Must, q)))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Box::new(BooleanQuery::new(parts)));
        }
        Err("only `equals` and `andAll` filters are emulated".into())
    }
}

async fn retrieve(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let Some(kb) = inner.kbs.iter().find(|k| k.id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "knowledge base not found",
        );
    };
    let Some(text) = body["retrievalQuery"]["text"]
        .as_str()
        .filter(|t| !t.trim().is_empty())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "retrievalQuery.text is required",
        );
    };
    let search = &body["retrievalConfiguration"]["vectorSearchConfiguration"];
    let n = search["numberOfResults"]
        .as_u64()
        .unwrap_or(5)
        .clamp(1, 100) as usize;
    let filter = search.get("filter").cloned();
    if let Ok(mut c) = inner.calls.lock() {
        c.push(RetrieveCall {
            knowledge_base_id: id.clone(),
            filter: filter.clone(),
        });
    }
    let parser = QueryParser::for_index(&kb.index, vec![inner.fields.text]);
    let (words, _) = parser.parse_query_lenient(text);
    let query: Box<dyn Query> = match &filter {
        None => words,
        Some(f) => match inner.filter(f) {
            Ok(fq) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, words),
                (Occur::Must, fq),
            ])),
            Err(m) => return error(StatusCode::BAD_REQUEST, "ValidationException", &m),
        },
    };
    let searcher = kb.reader.searcher();
    let hits = match searcher.search(&query, &TopDocs::with_limit(n)) {
        Ok(h) => h,
        Err(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "search failed",
            );
        }
    };
    let get = |d: &TantivyDocument, f: Field| {
        d.get_first(f)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let mut results = Vec::new();
    for (score, address) in hits {
        let Ok(d) = searcher.doc::<TantivyDocument>(address) else {
            continue;
        };
        let uri = get(&d, inner.fields.uri);
        let mut metadata = serde_json::Map::new();
        for (field, name) in inner.fields.meta.iter().zip(FILTER_KEYS) {
            metadata.insert(name.into(), get(&d, *field).into());
        }
        metadata.insert("x-amz-bedrock-kb-source-uri".into(), uri.clone().into());
        results.push(json!({
            "content": {"type": "TEXT", "text": get(&d, inner.fields.text)},
            "location": {"type": "S3", "s3Location": {"uri": uri}},
            "score": score,
            "metadata": metadata,
        }));
    }
    axum::Json(json!({"retrievalResults": results})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_ingested_document_is_found_under_its_own_clinic_only() {
        let catalog = tenant_context::TierCatalog::embedded().unwrap();
        let kb = KnowledgeBaseEmulation::start(demo_sources(&catalog), 0)
            .await
            .unwrap();
        let id = demo_knowledge_base_id("basic");
        kb.ingest(
            &id,
            "docs-basic",
            "basic-tier/clinic-a/canary-protocol/note.md",
            "Canary protocol note: reference CANARYabc123.",
            &[
                ("clinic_id", "clinic-a"),
                ("tier", "basic"),
                ("document_type", "canary-protocol"),
            ],
        )
        .unwrap();
        let http = reqwest::Client::new();
        let search = |clinic: &'static str| {
            http.post(format!("{}/knowledgebases/{id}/retrieve", kb.endpoint()))
                .json(&json!({
                    "retrievalQuery": {"text": "canary protocol note"},
                    "retrievalConfiguration": {"vectorSearchConfiguration": {
                        "numberOfResults": 3,
                        "filter": {"equals": {"key": "clinic_id", "value": clinic}}}}
                }))
                .send()
        };
        let own: Value = search("clinic-a").await.unwrap().json().await.unwrap();
        assert!(own.to_string().contains("CANARYabc123"), "{own}");
        assert_eq!(
            own["retrievalResults"][0]["location"]["s3Location"]["uri"],
            "s3://docs-basic/basic-tier/clinic-a/canary-protocol/note.md"
        );
        let theirs: Value = search("clinic-b").await.unwrap().json().await.unwrap();
        assert!(!theirs.to_string().contains("CANARY"), "{theirs}");
        assert!(kb.ingest("NOSUCHKB", "b", "k", "t", &[]).is_err());
    }
}
