//! The demo tenants of `infra/demo-tenants.json` and patients of `infra/demo-patients.json`
//! (synthetic).

use serde::Deserialize;

use crate::error::Error;

pub const DEMO_TENANTS_FILE: &str = include_str!("../../../infra/demo-tenants.json");
pub const DEMO_PATIENTS_FILE: &str = include_str!("../../../infra/demo-patients.json");

/// The demo tenants, read and validated by the onboarding tool's parser (the file has the
/// format `tenant-admin` onboards).
pub fn demo_tenants() -> Result<Vec<tenant_admin::Tenant>, Error> {
    let tiers = tenant_context::TierCatalog::embedded()?;
    Ok(tenant_admin::load_tenants(DEMO_TENANTS_FILE, &tiers)?)
}

/// The embedded tier file with one more tier, `name`, a copy of `base` whose per-tier names
/// (Gateway target, Bedrock project, knowledge base) are its own: for tests that no code
/// assumes the shipped tiers.
pub fn tier_file_with_copy(base: &str, name: &str) -> String {
    let mut file: serde_json::Value =
        serde_json::from_str(tenant_context::EMBEDDED_TIER_FILE).unwrap_or_default();
    let mut tier = file["tiers"][base].clone();
    tier["display_name"] = format!("{name} (a copy of {base})").into();
    tier["gateway_target"] = format!("tenantry-{name}-tools").into();
    tier["bedrock_project"]["name"] = format!("tenantry-{name}").into();
    tier["bedrock_project"]["ssm_parameter"] =
        format!("/tenantry/{name}/bedrock-project-id").into();
    tier["knowledge_base"]["name"] = format!("tenantry-{name}-kb").into();
    tier["knowledge_base"]["ssm_parameter"] = format!("/tenantry/{name}/knowledge-base-id").into();
    file["tiers"][name] = tier;
    file.to_string()
}

/// The synthetic patients of `infra/demo-patients.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPatients {
    #[serde(rename = "$comment", default)]
    _comment: Option<String>,
    pub patients: Vec<DemoPatient>,
}

/// One PatientMetadata row of the demo file: its clinic, and the attributes as the table holds
/// them (strings and lists of strings; tool-target's reader is the judge of the row's shape).
#[derive(Debug, Clone, Deserialize)]
pub struct DemoPatient {
    pub clinic_id: String,
    #[serde(flatten)]
    pub attributes: std::collections::BTreeMap<String, Attribute>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Attribute {
    Text(String),
    List(Vec<String>),
}

impl DemoPatients {
    pub fn embedded() -> Result<Self, Error> {
        Ok(serde_json::from_str(DEMO_PATIENTS_FILE)?)
    }
}
