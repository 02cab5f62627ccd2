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
