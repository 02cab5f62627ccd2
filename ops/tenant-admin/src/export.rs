//! `tenant-admin export`: everything the stack holds of one clinic, written to a local folder
//! or an S3 prefix in the formats docs/deploying.md documents (format `tenantry-export/1`):
//!
//! - `clinic.json`: its registry row and its ClinicConfig row;
//! - `patients.jsonl`, `usage.jsonl`: its PatientMetadata and Usage rows, one JSON object each;
//! - `documents/<tier>/<path>`: every current object under `<tier>-tier/<clinic>/` in each
//!   tier's bucket (documents and their metadata sidecars), byte for byte;
//! - `memory/<tier>/events.jsonl`, `memory/<tier>/records.jsonl`: every event (with its
//!   payload) of every actor of the clinic, and every long-term record under its namespaces;
//! - `audit.jsonl`: its PHI access audit trail, as far back as the stack keeps logs;
//! - `manifest.json`, written last: each file's size, record count and SHA-256.
//!
//! A run writes every file again, so a stopped export is finished by running it again; until
//! `manifest.json` is there, the export is incomplete. Local files are readable by their owner
//! only (they hold patient data).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;
use tenant_context::{ClinicId, TierCatalog};

use crate::apply::Clients;
use crate::audit::{AuditFilters, read_trail};
use crate::documents::clinic_prefix;
use crate::erasure::{clinic_rows, item_json};
use crate::memory::TierMemory;
use crate::{AdminError, Targets};

/// The format written in `manifest.json`.
pub const FORMAT: &str = "tenantry-export/1";
/// A progress line every this many documents (a hospital may hold thousands).
const PROGRESS_EVERY: usize = 100;
/// The audit trail is read in windows no longer than its query allows.
const AUDIT_WINDOW_DAYS: i64 = 366;

/// Where an export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Folder(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Destination {
    /// `s3://bucket/prefix` or a local folder.
    pub fn parse(text: &str) -> Result<Self, AdminError> {
        match text.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(AdminError::Conflict(format!(
                        "--to {text}: name a bucket (s3://BUCKET/PREFIX)"
                    )));
                }
                let prefix = prefix.trim_end_matches('/');
                Ok(Destination::S3 {
                    bucket: bucket.to_owned(),
                    prefix: if prefix.is_empty() {
                        String::new()
                    } else {
                        format!("{prefix}/")
                    },
                })
            }
            None => Ok(Destination::Folder(PathBuf::from(text))),
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Folder(p) => write!(f, "{}", p.display()),
            Destination::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// One file of the export, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub path: String,
    pub bytes: usize,
    /// Lines of a `.jsonl` file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<usize>,
    pub sha256: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    pub files: Vec<Entry>,
}

impl Exported {
    /// Records in the file `path` (0 if it is not there).
    pub fn records(&self, path: &str) -> usize {
        self.files
            .iter()
            .find(|e| e.path == path)
            .and_then(|e| e.records)
            .unwrap_or(0)
    }
}

struct Writer<'a> {
    to: &'a Destination,
    s3: &'a aws_sdk_s3::Client,
    written: Exported,
}

impl Writer<'_> {
    async fn file(
        &mut self,
        path: &str,
        bytes: Vec<u8>,
        records: Option<usize>,
    ) -> Result<(), AdminError> {
        let sha256 = format!("{:x}", sha2::Sha256::digest(&bytes));
        let size = bytes.len();
        match self.to {
            Destination::Folder(root) => write_private(&root.join(path), &bytes)?,
            Destination::S3 { bucket, prefix } => {
                self.s3
                    .put_object()
                    .bucket(bucket)
                    .key(format!("{prefix}{path}"))
                    .body(bytes.into())
                    .send()
                    .await
                    .map_err(AdminError::aws("S3 PutObject (export)"))?;
            }
        }
        self.written.files.push(Entry {
            path: path.to_owned(),
            bytes: size,
            records,
            sha256,
        });
        Ok(())
    }

    async fn lines(&mut self, path: &str, values: &[serde_json::Value]) -> Result<(), AdminError> {
        let mut out = Vec::new();
        for v in values {
            serde_json::to_writer(&mut out, v).map_err(|e| AdminError::Io {
                what: path.to_owned(),
                source: std::io::Error::other(e),
            })?;
            out.push(b'\n');
        }
        self.file(path, out, Some(values.len())).await
    }
}

/// A file (and its folders) that only its owner may read: the export holds patient data.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AdminError> {
    let io = |source| AdminError::Io {
        what: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    Ok(())
}

/// The path under `documents/<tier>/` of the object `rest` (its key after the clinic's
/// prefix), refused if a segment could step out of that folder or is empty.
pub fn document_path(tier: &str, rest: &str) -> Option<String> {
    let safe = !rest.is_empty()
        && rest
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains(['\\', '\0']));
    safe.then(|| format!("documents/{tier}/{rest}"))
}

/// The steps an export takes, for `--dry-run`.
pub fn describe(clinic: &ClinicId, targets: &Targets, to: &Destination) -> Vec<String> {
    let tiers: Vec<String> = targets.documents.keys().map(|t| t.to_string()).collect();
    vec![
        format!(
            "{}: {clinic}'s registry row and {}: its clinic row -> {to}: clinic.json",
            targets.registry_table, targets.clinic_table
        ),
        format!(
            "{}: every row of {clinic} -> patients.jsonl",
            targets.patient_table
        ),
        format!(
            "{}: every row of {clinic} -> usage.jsonl",
            targets.usage_table
        ),
        format!(
            "every object under {{tier}}-tier/{clinic}/ in each tier's bucket ({}) -> documents/<tier>/",
            tiers.join(", ")
        ),
        format!(
            "every event and long-term record of every actor {{tier}}/{clinic}/* in each tier's Memory -> memory/<tier>/events.jsonl, records.jsonl"
        ),
        format!(
            "{}: {clinic}'s audit trail, as far back as it is kept ({}) -> audit.jsonl",
            targets.audit_log_group,
            match targets.audit_retention_days {
                0 => "the stack's AuditRetentionDays".to_owned(),
                n => format!("{n} days"),
            }
        ),
        "manifest.json (each file's size, records and SHA-256), last".to_owned(),
    ]
}

/// Exports `clinic` to `to`; `report` gets one line per file.
pub async fn export(
    clinic: &ClinicId,
    clients: &Clients,
    targets: &Targets,
    tiers: &TierCatalog,
    audit: &audit_trail::AuditLog,
    to: &Destination,
    report: &mut dyn FnMut(String),
) -> Result<Exported, AdminError> {
    // A clinic offboarded before tombstones existed has no row, and may have data kept.
    let row = clients
        .registry(&targets.registry_table)
        .get(clinic)
        .await?;
    if row.is_none() {
        report(format!(
            "{clinic} is not in {} (never onboarded, or offboarded before tombstones): exporting whatever the stack holds under this id",
            targets.registry_table
        ));
    }
    let mut w = Writer {
        to,
        s3: &clients.s3,
        written: Exported::default(),
    };
    let clinic_row = clients
        .dynamodb
        .get_item()
        .table_name(&targets.clinic_table)
        .key(
            "clinic_id",
            aws_sdk_dynamodb::types::AttributeValue::S(clinic.to_string()),
        )
        .consistent_read(true)
        .send()
        .await
        .map_err(AdminError::aws("DynamoDB GetItem (ClinicConfig)"))?;
    let summary = serde_json::json!({
        "clinic_id": clinic.as_str(),
        "registry": row.as_ref().map(|row| serde_json::json!({
            "tier": row.tier,
            "status": row.status.as_str(),
            "api_key_id": row.api_key_id,
            "token_budget": row.token_budget.map(|b| serde_json::json!({
                "daily_tokens": b.daily_tokens, "monthly_tokens": b.monthly_tokens,
            })),
        })),
        "clinic_config": clinic_row.item().map(item_json),
    });
    w.file(
        "clinic.json",
        serde_json::to_vec_pretty(&summary).unwrap_or_default(),
        None,
    )
    .await?;
    report(match &row {
        Some(row) => format!(
            "clinic.json: registry row ({}, {}) and clinic row",
            row.tier, row.status
        ),
        None => "clinic.json: no registry row".to_owned(),
    });

    for (path, table) in [
        ("patients.jsonl", &targets.patient_table),
        ("usage.jsonl", &targets.usage_table),
    ] {
        let rows: Vec<_> = clinic_rows(&clients.dynamodb, table, clinic)
            .await?
            .iter()
            .map(item_json)
            .collect();
        w.lines(path, &rows).await?;
        report(format!("{path}: {} row(s) of {table}", rows.len()));
    }

    for (tier, docs) in &targets.documents {
        let prefix = clinic_prefix(tier, clinic);
        let mut n = 0;
        for key in crate::documents::list(&clients.s3, &docs.bucket, &prefix).await? {
            let rest = &key[prefix.len()..];
            let path = document_path(tier.as_str(), rest).ok_or_else(|| {
                AdminError::Conflict(format!(
                    "s3://{}/{key}: a key the export cannot write as a file (an empty, `.` or `..` segment); rename the object, then run again",
                    docs.bucket
                ))
            })?;
            let body = crate::documents::get_object(&clients.s3, &docs.bucket, &key).await?;
            w.file(&path, body, None).await?;
            n += 1;
            if n % PROGRESS_EVERY == 0 {
                report(format!("documents/{tier}/: {n} object(s) so far"));
            }
        }
        report(format!(
            "documents/{tier}/: {n} object(s) from s3://{}/{prefix}",
            docs.bucket
        ));
    }

    for (tier, memory_id) in &targets.memories {
        let memory = TierMemory {
            client: &clients.memory,
            memory_id,
        };
        let events = memory.export_clinic_events(tier, clinic).await?;
        let records = memory
            .export_clinic_records(tier, clinic, tiers.config(tier)?)
            .await?;
        w.lines(&format!("memory/{tier}/events.jsonl"), &events)
            .await?;
        w.lines(&format!("memory/{tier}/records.jsonl"), &records)
            .await?;
        report(format!(
            "memory/{tier}/: {} event(s), {} long-term record(s) from {memory_id}",
            events.len(),
            records.len()
        ));
    }

    let now = chrono::Utc::now();
    let oldest = now - chrono::Duration::days(i64::from(targets.audit_retention_days.max(1)));
    let mut trail = Vec::new();
    let mut from = oldest;
    while from < now {
        let until = (from + chrono::Duration::days(AUDIT_WINDOW_DAYS)).min(now);
        let filters = AuditFilters {
            patient: None,
            user: None,
            from: Some(from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            to: Some(until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        };
        for e in read_trail(audit, clinic, &filters, usize::MAX).await? {
            trail.push(serde_json::to_value(&e).map_err(|e| AdminError::Io {
                what: "an audit event".into(),
                source: std::io::Error::other(e),
            })?);
        }
        from = until;
    }
    w.lines("audit.jsonl", &trail).await?;
    report(format!(
        "audit.jsonl: {} event(s) since {}",
        trail.len(),
        oldest.format("%Y-%m-%d")
    ));

    let manifest = serde_json::json!({
        "format": FORMAT,
        "clinic_id": clinic.as_str(),
        "tier": row.as_ref().map(|r| r.tier.clone()),
        "status": row.as_ref().map(|r| r.status.as_str()),
        "exported_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "files": w.written.files,
    });
    let written = w.written.clone();
    w.file(
        "manifest.json",
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
        None,
    )
    .await?;
    report(format!(
        "manifest.json: {} file(s) listed with their SHA-256",
        written.files.len()
    ));
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_could_step_out_of_the_folder_is_refused() {
        assert_eq!(
            document_path("basic", "notes/a.md").as_deref(),
            Some("documents/basic/notes/a.md")
        );
        for bad in [
            "",
            "../x",
            "notes/../../etc/passwd",
            "./a",
            "a//b",
            "a/",
            "a\\..\\b",
            "a\0b",
        ] {
            assert_eq!(document_path("basic", bad), None, "{bad:?}");
        }
    }

    #[test]
    fn destinations() {
        assert_eq!(
            Destination::parse("s3://b/exports/clinic-a").unwrap(),
            Destination::S3 {
                bucket: "b".into(),
                prefix: "exports/clinic-a/".into()
            }
        );
        assert_eq!(
            Destination::parse("s3://b").unwrap(),
            Destination::S3 {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert!(Destination::parse("s3:///x").is_err());
        assert_eq!(
            Destination::parse("out/clinic-a").unwrap(),
            Destination::Folder("out/clinic-a".into())
        );
    }
}
