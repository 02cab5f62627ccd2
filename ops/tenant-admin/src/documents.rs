//! Moving a clinic's documents between tiers: every object under `<from>-tier/<clinic>/` in the
//! old tier's bucket is copied to `<to>-tier/<clinic>/` in the new tier's bucket (a metadata
//! sidecar rewritten to name the new tier, which the retrieval filter and the TVM role's prefix
//! rely on), then the old objects are deleted, then both knowledge bases are synced (the old
//! one drops the clinic's vectors, the new one indexes them) and the syncs waited for.
//!
//! Everything is copied before anything is deleted, so a run stopped anywhere loses nothing:
//! run again, the objects still under the old prefix are copied (again) and deleted.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;
use tenant_context::{ClinicId, TierName};

use crate::AdminError;

/// A tier's documents: its bucket and its knowledge base's data source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDocuments {
    pub bucket: String,
    pub knowledge_base_id: String,
    pub data_source_id: String,
}

/// How long a knowledge base sync is waited for, and how often it is asked about.
#[derive(Debug, Clone, Copy)]
pub struct SyncWait {
    pub timeout: Duration,
    pub every: Duration,
}

impl Default for SyncWait {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15 * 60),
            every: Duration::from_secs(5),
        }
    }
}

const SIDECAR: &str = ".metadata.json";

/// What a move did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    pub documents: usize,
    pub sidecars: usize,
}

/// The clinic's prefix in a tier's bucket (the layout scripts/upload-document.sh writes).
pub fn clinic_prefix(tier: &TierName, clinic: &ClinicId) -> String {
    format!("{tier}-tier/{clinic}/")
}

/// Copies every object of `clinic` from `from`'s bucket to `to`'s, then deletes the old ones.
pub async fn move_documents(
    s3: &aws_sdk_s3::Client,
    clinic: &ClinicId,
    (from, old): (&TierName, &TierDocuments),
    (to, new): (&TierName, &TierDocuments),
) -> Result<Moved, AdminError> {
    let (old_prefix, new_prefix) = (clinic_prefix(from, clinic), clinic_prefix(to, clinic));
    let keys = list(s3, &old.bucket, &old_prefix).await?;
    let mut moved = Moved::default();
    for key in &keys {
        let rest = &key[old_prefix.len()..];
        let target = format!("{new_prefix}{rest}");
        if key.ends_with(SIDECAR) {
            let body = get_object(s3, &old.bucket, key).await?;
            let sidecar = retiered(&body, to).ok_or_else(|| {
                AdminError::Conflict(format!(
                    "s3://{}/{key} is not a metadata sidecar ({{\"metadataAttributes\": {{...}}}}): fix or remove it, then run again",
                    old.bucket
                ))
            })?;
            s3.put_object()
                .bucket(&new.bucket)
                .key(&target)
                .content_type("application/json")
                .body(ByteStream::from(sidecar))
                .send()
                .await
                .map_err(AdminError::aws("S3 PutObject"))?;
            moved.sidecars += 1;
        } else {
            s3.copy_object()
                .bucket(&new.bucket)
                .key(&target)
                .copy_source(copy_source(&old.bucket, key))
                .send()
                .await
                .map_err(AdminError::aws("S3 CopyObject"))?;
            moved.documents += 1;
        }
    }
    for key in &keys {
        s3.delete_object()
            .bucket(&old.bucket)
            .key(key)
            .send()
            .await
            .map_err(AdminError::aws("S3 DeleteObject"))?;
    }
    Ok(moved)
}

/// The whole body of `bucket`/`key`.
pub(crate) async fn get_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, AdminError> {
    Ok(s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(AdminError::aws("S3 GetObject"))?
        .body
        .collect()
        .await
        .map_err(|e| AdminError::Aws {
            op: "S3 GetObject (body)",
            source: Box::new(e),
        })?
        .to_vec())
}

/// Every key under `prefix` in `bucket`.
pub(crate) async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, AdminError> {
    let objects = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(AdminError::aws("S3 ListObjectsV2"))?;
    let keys = objects
        .iter()
        .flat_map(|page| page.contents())
        .filter_map(|o| o.key())
        .filter(|k| k.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    Ok(keys)
}

/// What a key's segment keeps unencoded in `x-amz-copy-source` (RFC 3986's unreserved).
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `x-amz-copy-source`: the bucket and the URL-encoded key.
fn copy_source(bucket: &str, key: &str) -> String {
    let encoded: String = key
        .split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, UNRESERVED).to_string())
        .collect::<Vec<_>>()
        .join("/");
    format!("{bucket}/{encoded}")
}

/// The sidecar with `metadataAttributes.tier` set to `to`; `None` if it is not a sidecar.
fn retiered(body: &[u8], to: &TierName) -> Option<Vec<u8>> {
    let mut sidecar: Value = serde_json::from_slice(body).ok()?;
    let attributes = sidecar.get_mut("metadataAttributes")?.as_object_mut()?;
    attributes.insert("tier".into(), Value::String(to.to_string()));
    serde_json::to_vec(&sidecar).ok()
}

/// Starts a sync of each knowledge base and waits for all to complete; `report` gets a line
/// per sync started and ended.
pub async fn sync(
    agent: &aws_sdk_bedrockagent::Client,
    sources: &[&TierDocuments],
    wait: SyncWait,
    report: &mut dyn FnMut(String),
) -> Result<(), AdminError> {
    use aws_sdk_bedrockagent::types::IngestionJobStatus as Status;
    let mut jobs = Vec::new();
    for source in sources {
        let job = agent
            .start_ingestion_job()
            .knowledge_base_id(&source.knowledge_base_id)
            .data_source_id(&source.data_source_id)
            .send()
            .await
            .map_err(AdminError::aws("Bedrock StartIngestionJob"))?;
        let id = job
            .ingestion_job()
            .map(|j| j.ingestion_job_id().to_owned())
            .ok_or_else(|| AdminError::Conflict("StartIngestionJob returned no job".into()))?;
        report(format!(
            "knowledge base {}: sync {id} started",
            source.knowledge_base_id
        ));
        jobs.push((*source, id));
    }
    let deadline = tokio::time::Instant::now() + wait.timeout;
    for (source, id) in jobs {
        loop {
            let job = agent
                .get_ingestion_job()
                .knowledge_base_id(&source.knowledge_base_id)
                .data_source_id(&source.data_source_id)
                .ingestion_job_id(&id)
                .send()
                .await
                .map_err(AdminError::aws("Bedrock GetIngestionJob"))?;
            let job = job
                .ingestion_job()
                .ok_or_else(|| AdminError::Conflict("GetIngestionJob returned no job".into()))?;
            match job.status() {
                Status::Complete => {
                    let stats = job.statistics();
                    report(format!(
                        "knowledge base {}: sync {id} complete ({} indexed, {} deleted)",
                        source.knowledge_base_id,
                        stats.map_or(0, |s| s.number_of_new_documents_indexed()
                            + s.number_of_modified_documents_indexed()),
                        stats.map_or(0, |s| s.number_of_documents_deleted()),
                    ));
                    break;
                }
                Status::Failed | Status::Stopped | Status::Stopping => {
                    return Err(AdminError::Incomplete(format!(
                        "knowledge base {} sync {id} ended {}: {}; run again",
                        source.knowledge_base_id,
                        job.status().as_str(),
                        job.failure_reasons().join("; ")
                    )));
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(AdminError::Incomplete(format!(
                        "knowledge base {} sync {id} still {} after {} s; run again once it ends",
                        source.knowledge_base_id,
                        job.status().as_str(),
                        wait.timeout.as_secs()
                    )));
                }
                _ => tokio::time::sleep(wait.every).await,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_is_retiered_and_anything_else_refused() {
        let premium = tenant_context::TierCatalog::embedded()
            .unwrap()
            .tier("premium")
            .unwrap();
        let body = br#"{"metadataAttributes": {"clinic_id": "clinic-c", "tier": "basic", "document_type": "notes"}}"#;
        let out: Value = serde_json::from_slice(&retiered(body, &premium).unwrap()).unwrap();
        assert_eq!(out["metadataAttributes"]["tier"], "premium");
        assert_eq!(out["metadataAttributes"]["clinic_id"], "clinic-c");
        for not_one in [
            &b"[]"[..],
            b"{}",
            b"not json",
            br#"{"metadataAttributes": 3}"#,
        ] {
            assert!(retiered(not_one, &premium).is_none());
        }
        assert_eq!(
            copy_source("b", "basic-tier/clinic-c/notes/a b+c.md"),
            "b/basic-tier/clinic-c/notes/a%20b%2Bc.md"
        );
    }
}
