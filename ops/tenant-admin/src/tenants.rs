//! The tenant file (the format of `infra/demo-tenants.json`), validated before anything runs.

use std::collections::BTreeSet;

use serde::Deserialize;
use tenant_context::{ClinicId, Role, TierCatalog, TierName};

use crate::AdminError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    #[serde(rename = "$comment", default)]
    _comment: Option<String>,
    clinics: Vec<RawTenant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    clinic_id: String,
    tier: String,
    name: String,
    timezone: String,
    #[serde(default)]
    user: Option<RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    username: String,
    role: String,
    /// Defaults to the username when that is an e-mail address.
    #[serde(default)]
    email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub clinic_id: ClinicId,
    pub tier: TierName,
    pub name: String,
    /// An IANA timezone (validated): business hours are in clinic local time.
    pub timezone: String,
    pub user: Option<TenantUser>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantUser {
    pub username: String,
    pub email: String,
    pub role: Role,
}

impl TenantUser {
    /// A user with a role of the tier file and an e-mail address (the username when none is
    /// given and it is one); the problem in words otherwise.
    pub fn new(
        username: String,
        role: &str,
        email: Option<String>,
        tiers: &TierCatalog,
    ) -> Result<Self, String> {
        let parsed = Role::parse(role).map_err(|e| e.to_string())?;
        // A role the tier file does not list could use no tool: refuse it here.
        if !tiers.roles().any(|(r, _)| *r == parsed) {
            let known: Vec<String> = tiers.roles().map(|(r, _)| r.to_string()).collect();
            return Err(format!(
                "user.role {role:?} is not a role of infra/tiers.json ({})",
                known.join(", ")
            ));
        }
        let email = match email {
            Some(e) => e,
            None if username.contains('@') => username.clone(),
            None => {
                return Err(
                    "user.email is required when the username is not an e-mail address".into(),
                );
            }
        };
        if username.trim().is_empty() || !email.contains('@') {
            return Err("user needs a username and an e-mail address".into());
        }
        Ok(Self {
            username,
            email,
            role: parsed,
        })
    }
}

/// Parses and validates every entry; the first problem names the entry.
pub fn load_tenants(text: &str, tiers: &TierCatalog) -> Result<Vec<Tenant>, AdminError> {
    let file: TenantFile = serde_json::from_str(text).map_err(AdminError::TenantFile)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(file.clinics.len());
    for (index, raw) in file.clinics.into_iter().enumerate() {
        let bad = |reason: String| AdminError::Tenant {
            index,
            clinic: raw.clinic_id.clone(),
            reason,
        };
        let clinic_id = ClinicId::parse(&raw.clinic_id).map_err(|e| bad(e.to_string()))?;
        if !seen.insert(raw.clinic_id.clone()) {
            return Err(bad("clinic_id appears twice".into()));
        }
        let tier = tiers.tier(&raw.tier).map_err(|e| bad(e.to_string()))?;
        if raw.name.trim().is_empty() {
            return Err(bad("name must not be empty".into()));
        }
        if raw.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(bad(format!(
                "timezone {:?} is not an IANA timezone (e.g. Europe/London)",
                raw.timezone
            )));
        }
        let user = match raw.user {
            None => None,
            Some(u) => Some(TenantUser::new(u.username, &u.role, u.email, tiers).map_err(bad)?),
        };
        out.push(Tenant {
            clinic_id,
            tier,
            name: raw.name,
            timezone: raw.timezone,
            user,
        });
    }
    Ok(out)
}
