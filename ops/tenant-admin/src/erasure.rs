//! Erasing an offboarded clinic's data (`offboard --purge`): its documents, every version of
//! them, and its patient rows. Each eraser lists, deletes, then lists again: something left
//! is an error saying to run the command again, never a quiet success.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use tenant_context::ClinicId;

use crate::AdminError;

/// BatchWriteItem takes at most 25 requests a call (its service model).
const WRITE_BATCH: usize = 25;
/// How often a batch's unprocessed items are sent again before the step gives up.
const WRITE_RETRIES: usize = 5;

/// Deletes every version (and delete marker) of every object under `prefix` in `bucket`; how
/// many versions. The buckets are versioned (a plain delete would only hide an object behind
/// a marker until the lifecycle rule expires it): each version is deleted by its id.
pub async fn erase_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<usize, AdminError> {
    let versions = versions(s3, bucket, prefix).await?;
    for (key, version) in &versions {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.clone())
            .send()
            .await
            .map_err(AdminError::aws("S3 DeleteObject (a version)"))?;
    }
    let left = versions_left(s3, bucket, prefix).await?;
    if left > 0 {
        return Err(AdminError::Incomplete(format!(
            "{left} object version(s) are still under s3://{bucket}/{prefix}; run the command again"
        )));
    }
    Ok(versions.len())
}

async fn versions_left(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<usize, AdminError> {
    Ok(versions(s3, bucket, prefix).await?.len())
}

/// (key, version id) of every version and delete marker under `prefix`. (Paged by hand: the
/// SDK has no paginator for ListObjectVersions, whose pages carry two markers.)
async fn versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<(String, Option<String>)>, AdminError> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(AdminError::aws("S3 ListObjectVersions"))?;
        let under = |k: Option<&str>| k.filter(|k| k.starts_with(prefix)).map(str::to_owned);
        for v in page.versions() {
            if let Some(key) = under(v.key()) {
                out.push((key, v.version_id().map(str::to_owned)));
            }
        }
        for m in page.delete_markers() {
            if let Some(key) = under(m.key()) {
                out.push((key, m.version_id().map(str::to_owned)));
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Every row of `clinic` in a table keyed (`clinic_id`, `sort_key`), whole.
pub async fn clinic_rows(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    clinic: &ClinicId,
) -> Result<Vec<HashMap<String, AttributeValue>>, AdminError> {
    let rows = ddb
        .query()
        .table_name(table)
        .key_condition_expression("clinic_id = :c")
        .expression_attribute_values(":c", AttributeValue::S(clinic.to_string()))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(AdminError::aws("DynamoDB Query"))?;
    Ok(rows)
}

/// Deletes every row of `clinic` in `table` (keyed `clinic_id`, `sort_key`); how many.
pub async fn erase_rows(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    sort_key: &str,
    clinic: &ClinicId,
) -> Result<usize, AdminError> {
    let rows = clinic_rows(ddb, table, clinic).await?;
    let keys: Vec<HashMap<String, AttributeValue>> = rows
        .iter()
        .filter_map(|row| {
            row.get(sort_key).map(|sort| {
                HashMap::from([
                    (
                        "clinic_id".to_owned(),
                        AttributeValue::S(clinic.to_string()),
                    ),
                    (sort_key.to_owned(), sort.clone()),
                ])
            })
        })
        .collect();
    for batch in keys.chunks(WRITE_BATCH) {
        let mut requests = batch
            .iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key.clone()))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(AdminError::aws("DynamoDB DeleteRequest"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for _ in 0..WRITE_RETRIES {
            let out = ddb
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(AdminError::aws("DynamoDB BatchWriteItem"))?;
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
        }
    }
    let left = clinic_rows(ddb, table, clinic).await?.len();
    if left > 0 {
        return Err(AdminError::Incomplete(format!(
            "{left} row(s) of {clinic} are still in {table} (throttled?); run the command again"
        )));
    }
    Ok(keys.len())
}

/// A DynamoDB item as plain JSON (strings, numbers as their decimal text, lists, maps, sets
/// as lists), the export's format for rows. Written here because the SDK offers no serde for
/// `AttributeValue`; binary values are base64.
pub fn item_json(item: &HashMap<String, AttributeValue>) -> serde_json::Value {
    let mut keys: Vec<&String> = item.keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|k| (k.clone(), value_json(&item[k])))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn value_json(v: &AttributeValue) -> serde_json::Value {
    use base64::Engine as _;
    let b64 = |b: &aws_sdk_dynamodb::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match v {
        AttributeValue::S(s) => s.clone().into(),
        // Numbers keep their exact decimal text (DynamoDB's precision exceeds f64's).
        AttributeValue::N(n) => n.clone().into(),
        AttributeValue::Bool(b) => (*b).into(),
        AttributeValue::Null(_) => serde_json::Value::Null,
        AttributeValue::L(l) => l.iter().map(value_json).collect::<Vec<_>>().into(),
        AttributeValue::M(m) => item_json(m),
        AttributeValue::Ss(s) | AttributeValue::Ns(s) => s.clone().into(),
        AttributeValue::B(b) => b64(b).into(),
        AttributeValue::Bs(bs) => bs.iter().map(b64).collect::<Vec<_>>().into(),
        _ => serde_json::Value::Null,
    }
}
