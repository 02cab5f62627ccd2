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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPatient {
    pub clinic_id: String,
    pub patient_id: String,
    pub name: String,
    pub date_of_birth: String,
    pub conditions: Vec<String>,
    pub allergies: Vec<String>,
    pub last_visit: String,
}

impl DemoPatients {
    pub fn embedded() -> Result<Self, Error> {
        Ok(serde_json::from_str(DEMO_PATIENTS_FILE)?)
    }
}
