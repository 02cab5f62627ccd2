//! The tenant's rows in PatientMetadata (clinic_id HASH, patient_id RANGE) and ClinicConfig
//! (clinic_id HASH). Every request is keyed by the verified tenant's clinic id, and runs on
//! credentials vended for that tenant (never the function's own role), so another clinic's
//! rows are out of reach twice: by the key the code builds, and by the IAM LeadingKeys
//! condition on the credentials.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use tenant_context::ClinicId;

use crate::error::ToolError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub patient_table: String,
    pub clinic_table: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Patient {
    pub patient_id: String,
    pub name: String,
    pub date_of_birth: String,
    pub conditions: Vec<String>,
    pub allergies: Vec<String>,
    pub last_visit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClinicRecord {
    pub clinic_id: String,
    pub name: String,
    pub tier: String,
    pub timezone: String,
}

type Item = HashMap<String, AttributeValue>;

/// A string attribute, or `missing(key)`: the error names the kind of record that is broken.
fn text(
    item: &Item,
    key: &'static str,
    missing: fn(&'static str) -> ToolError,
) -> Result<String, ToolError> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| missing(key))
}

fn texts(item: &Item, key: &str) -> Vec<String> {
    item.get(key)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|x| x.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

fn patient(item: &Item) -> Result<Patient, ToolError> {
    Ok(Patient {
        patient_id: text(item, "patient_id", ToolError::PatientRecordMalformed)?,
        name: text(item, "name", ToolError::PatientRecordMalformed)?,
        date_of_birth: text(item, "date_of_birth", ToolError::PatientRecordMalformed)?,
        conditions: texts(item, "conditions"),
        allergies: texts(item, "allergies"),
        last_visit: text(item, "last_visit", ToolError::PatientRecordMalformed)?,
    })
}

/// DynamoDB failures are logged without the raw response (for a read, the patient row) and
/// surface as `unavailable`: the caller (a model) cannot act on AWS error details.
fn unavailable<E>(op: &'static str) -> impl FnOnce(E) -> ToolError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| {
        telemetry::aws_errors::log_failure(op, &e);
        ToolError::Unavailable
    }
}

/// The tenant's data, through a DynamoDB client built on the tenant's scoped credentials.
pub struct TenantData<'a> {
    pub ddb: Client,
    pub tables: &'a Tables,
    pub clinic: &'a ClinicId,
}

/// The rows a tool reads, all of one clinic (the verified tenant's): DynamoDB in the function
/// (`TenantData`), an in-memory table in the tool logic's unit tests.
pub trait ClinicRows {
    /// One of the clinic's patients; another clinic's id finds nothing, like an unknown id.
    fn patient(
        &self,
        patient_id: &str,
    ) -> impl std::future::Future<Output = Result<Patient, ToolError>> + Send;
    /// A page of the clinic's patients after `after`, and the last id if more follow.
    fn patients(
        &self,
        limit: u32,
        after: Option<String>,
    ) -> impl std::future::Future<Output = Result<(Vec<Patient>, Option<String>), ToolError>> + Send;
    /// The clinic's configuration row.
    fn clinic_record(
        &self,
    ) -> impl std::future::Future<Output = Result<ClinicRecord, ToolError>> + Send;
}

impl ClinicRows for TenantData<'_> {
    async fn patient(&self, patient_id: &str) -> Result<Patient, ToolError> {
        TenantData::patient(self, patient_id).await
    }
    async fn patients(
        &self,
        limit: u32,
        after: Option<String>,
    ) -> Result<(Vec<Patient>, Option<String>), ToolError> {
        TenantData::patients(self, limit, after).await
    }
    async fn clinic_record(&self) -> Result<ClinicRecord, ToolError> {
        TenantData::clinic_record(self).await
    }
}

impl TenantData<'_> {
    fn clinic_key(&self) -> AttributeValue {
        AttributeValue::S(self.clinic.to_string())
    }

    /// One of the tenant's patients. Another clinic's patient id finds nothing, exactly like
    /// an unknown id: the key always carries the tenant's own clinic id.
    pub async fn patient(&self, patient_id: &str) -> Result<Patient, ToolError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.patient_table)
            .key("clinic_id", self.clinic_key())
            .key("patient_id", AttributeValue::S(patient_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("GetItem PatientMetadata"))?;
        out.item()
            .map(patient)
            .transpose()?
            .ok_or(ToolError::PatientNotFound)
    }

    /// A page of the tenant's patients after `after` (a patient id from a verified page token).
    pub async fn patients(
        &self,
        limit: u32,
        after: Option<String>,
    ) -> Result<(Vec<Patient>, Option<String>), ToolError> {
        let mut q = self
            .ddb
            .query()
            .table_name(&self.tables.patient_table)
            .key_condition_expression("clinic_id = :c")
            .expression_attribute_values(":c", self.clinic_key())
            // In range 1-100 by the argument check, so the cast cannot truncate.
            .limit(limit as i32);
        if let Some(last) = after {
            q = q
                .exclusive_start_key("clinic_id", self.clinic_key())
                .exclusive_start_key("patient_id", AttributeValue::S(last));
        }
        let out = q
            .send()
            .await
            .map_err(unavailable("Query PatientMetadata"))?;
        let patients = out
            .items()
            .iter()
            .map(patient)
            .collect::<Result<Vec<_>, _>>()?;
        let last = out
            .last_evaluated_key()
            .and_then(|k| k.get("patient_id"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        Ok((patients, last))
    }

    pub async fn clinic_record(&self) -> Result<ClinicRecord, ToolError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.clinic_table)
            .key("clinic_id", self.clinic_key())
            .send()
            .await
            .map_err(unavailable("GetItem ClinicConfig"))?;
        let item = out
            .item()
            .ok_or(ToolError::ClinicMisconfigured("clinic record"))?;
        Ok(ClinicRecord {
            clinic_id: text(item, "clinic_id", ToolError::ClinicMisconfigured)?,
            name: text(item, "name", ToolError::ClinicMisconfigured)?,
            tier: text(item, "tier", ToolError::ClinicMisconfigured)?,
            timezone: text(item, "timezone", ToolError::ClinicMisconfigured)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect()
    }

    #[test]
    fn a_broken_patient_row_is_named_as_such_not_as_the_clinics_configuration() {
        let row = item(&[
            ("patient_id", "p-1"),
            ("name", "A"),
            ("last_visit", "2026-01-01"),
        ]);
        match patient(&row) {
            Err(e @ ToolError::PatientRecordMalformed("date_of_birth")) => {
                assert_eq!(e.code(), "patient_record_malformed")
            }
            other => panic!("{other:?}"),
        }
    }
}
