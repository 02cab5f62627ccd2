//! The demo tenants of `infra/demo-tenants.json` (synthetic).

use serde::Deserialize;

use crate::error::Error;

pub const DEMO_TENANTS_FILE: &str = include_str!("../../../infra/demo-tenants.json");
pub const DEMO_PATIENTS_FILE: &str = include_str!("../../../infra/demo-patients.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoTenants {
    #[serde(rename = "$comment", default)]
    _comment: Option<String>,
    pub clinics: Vec<DemoClinic>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoClinic {
    pub clinic_id: String,
    pub tier: String,
    pub name: String,
    pub timezone: String,
    pub user: DemoUser,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUser {
    pub username: String,
    pub role: String,
}

impl DemoTenants {
    pub fn embedded() -> Result<Self, Error> {
        Ok(serde_json::from_str(DEMO_TENANTS_FILE)?)
    }
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
