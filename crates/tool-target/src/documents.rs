//! `retrieve_clinic_documents`: Bedrock Knowledge Base Retrieve on the caller's tier's
//! knowledge base, ALWAYS filtered to the verified clinic (`clinic_id` equals it).
//!
//! No IAM condition key can pin a Retrieve filter, so whoever may call Retrieve on a tier's
//! knowledge base can read every clinic of that tier. That is why only this function holds
//! `bedrock:Retrieve`, behind the Gateway's Cedar policies, and why the filter is built here
//! from the verified tenant and nothing else. Results that still name another clinic (a
//! mis-tagged document) are dropped and logged as a security event.

use std::collections::BTreeMap;

use aws_sdk_bedrockagentruntime as kb;
use kb::types::{
    FilterAttribute, KnowledgeBaseQuery, KnowledgeBaseRetrievalConfiguration,
    KnowledgeBaseVectorSearchConfiguration, RetrievalFilter,
};
use serde::Serialize;
use tenant_context::{TenantContext, TierName};

use crate::error::ToolError;

/// The metadata attribute every document's sidecar carries.
pub const CLINIC_KEY: &str = "clinic_id";
/// Longest passage returned per result.
pub const MAX_EXCERPT_CHARS: usize = 1200;

/// The Retrieve client, built at its first use: most calls never retrieve documents, and
/// building an SDK client is about 0.8 ms of every cold start.
pub enum DocumentsClient {
    Lazy {
        // Boxed: a configuration is large beside a client (an Arc).
        sdk: Box<aws_types::SdkConfig>,
        client: std::sync::OnceLock<kb::Client>,
    },
    Ready(kb::Client),
}

impl DocumentsClient {
    /// A client from `sdk` (this function's own role), built when first asked for.
    pub fn lazy(sdk: &aws_types::SdkConfig) -> Self {
        Self::Lazy {
            sdk: Box::new(sdk.clone()),
            client: std::sync::OnceLock::new(),
        }
    }

    pub fn get(&self) -> &kb::Client {
        match self {
            Self::Lazy { sdk, client } => client.get_or_init(|| kb::Client::new(sdk)),
            Self::Ready(client) => client,
        }
    }
}

/// The knowledge base of each tier (`TENANTRY_KNOWLEDGE_BASE_<TIER>`).
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBases(pub BTreeMap<TierName, String>);

/// One passage with its source, so answers can cite it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    pub source: String,
    pub title: String,
    pub document_type: String,
    pub score: f64,
    pub excerpt: String,
}

fn metadata_str(
    m: Option<&std::collections::HashMap<String, aws_smithy_types::Document>>,
    key: &str,
) -> Option<String> {
    match m?.get(key)? {
        aws_smithy_types::Document::String(s) => Some(s.clone()),
        _ => None,
    }
}

pub async fn retrieve(
    client: &kb::Client,
    bases: &KnowledgeBases,
    tenant: &TenantContext,
    query: &str,
    max_results: u32,
) -> Result<Vec<Passage>, ToolError> {
    let id = bases
        .0
        .get(tenant.tier())
        .ok_or(ToolError::DocumentsNotConfigured)?;
    let invalid = |_| ToolError::Unavailable;
    let filter = RetrievalFilter::Equals(
        FilterAttribute::builder()
            .key(CLINIC_KEY)
            .value(aws_smithy_types::Document::String(
                tenant.clinic_id().to_string(),
            ))
            .build()
            .map_err(invalid)?,
    );
    let out = client
        .retrieve()
        .knowledge_base_id(id)
        .retrieval_query(KnowledgeBaseQuery::builder().text(query).build())
        .retrieval_configuration(
            KnowledgeBaseRetrievalConfiguration::builder()
                .vector_search_configuration(
                    KnowledgeBaseVectorSearchConfiguration::builder()
                        .number_of_results(max_results as i32)
                        .filter(filter)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            // The code and message only: never a response body.
            tracing::error!(error = %kb::error::DisplayErrorContext(&e).to_string().lines().next().unwrap_or_default(), "Knowledge Base Retrieve failed");
            ToolError::Unavailable
        })?;
    let mut passages = Vec::new();
    for r in out.retrieval_results() {
        let clinic = metadata_str(r.metadata(), CLINIC_KEY);
        if clinic.as_deref() != Some(tenant.clinic_id().as_str()) {
            tracing::warn!(
                security_event = "document_of_another_clinic",
                clinic_id = %tenant.clinic_id(),
                "a retrieved document does not carry the caller's clinic; dropped"
            );
            continue;
        }
        let source = r
            .location()
            .and_then(|l| l.s3_location())
            .and_then(|s| s.uri())
            .unwrap_or_default()
            .to_owned();
        let title = source.rsplit('/').next().unwrap_or_default().to_owned();
        let text = r.content().map(|c| c.text()).unwrap_or_default();
        passages.push(Passage {
            title,
            document_type: metadata_str(r.metadata(), "document_type").unwrap_or_default(),
            score: r.score().unwrap_or_default(),
            excerpt: text.chars().take(MAX_EXCERPT_CHARS).collect(),
            source,
        });
    }
    Ok(passages)
}
