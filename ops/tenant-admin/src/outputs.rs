//! The deployed stack's outputs, as `aws cloudformation describe-stacks` prints them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use tenant_context::TierName;

use crate::AdminError;

#[derive(Debug, Clone, Default)]
pub struct StackOutputs {
    values: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Output {
    #[serde(rename = "OutputKey")]
    key: String,
    #[serde(rename = "OutputValue")]
    value: String,
}

impl StackOutputs {
    /// Accepts `[{"OutputKey", "OutputValue"}, ...]` (`--query 'Stacks[0].Outputs'`) or the
    /// whole `describe-stacks` document.
    pub fn from_json(text: &str) -> Result<Self, AdminError> {
        let value: Value = serde_json::from_str(text).map_err(AdminError::OutputsFile)?;
        let list = match value.pointer("/Stacks/0/Outputs") {
            Some(outputs) => outputs.clone(),
            None => value,
        };
        let outputs: Vec<Output> = serde_json::from_value(list).map_err(AdminError::OutputsFile)?;
        Ok(Self {
            values: outputs.into_iter().map(|o| (o.key, o.value)).collect(),
        })
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Result<&str, AdminError> {
        self.values
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| AdminError::MissingOutput(key.to_owned()))
    }
}

/// The output naming a tier's usage plan (`basic` -> `BasicUsagePlanId`), as the template
/// generator names it.
pub fn usage_plan_output(tier: &TierName) -> String {
    tier_output(tier, "UsagePlanId")
}

/// The output naming a tier's AgentCore Memory (`basic` -> `BasicMemoryId`).
pub fn memory_output(tier: &TierName) -> String {
    tier_output(tier, "MemoryId")
}

/// A tier's output `what` (`basic`, `DocumentsBucket` -> `BasicDocumentsBucket`).
pub fn tier_output(tier: &TierName, what: &str) -> String {
    let mut chars = tier.as_str().chars();
    let pascal = chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default();
    format!("{pascal}{what}")
}

/// Outputs the onboarding reads, besides one usage plan per tier.
pub const REQUIRED_OUTPUTS: [&str; 9] = [
    "NamePrefix",
    "StackPurpose",
    "UserPoolId",
    "TenantRegistryTableName",
    "ClinicConfigTableName",
    "PatientMetadataTableName",
    "UsageTableName",
    "AuditLogGroupName",
    "AuditRetentionDays",
];
