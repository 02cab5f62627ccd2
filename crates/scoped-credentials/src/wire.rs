//! The token-vending function's request and reply, shared by the function and its clients.

use serde::{Deserialize, Serialize};

use crate::credentials::Scope;

/// The event the token-vending function accepts.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendRequest {
    /// The user's Cognito ID token.
    pub id_token: String,
    /// Required: no request gets credentials for every service.
    pub scope: Scope,
}

impl std::fmt::Debug for VendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendRequest")
            .field("id_token", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

/// The function's reply: the credentials and the tenant it vouched for.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendResponse {
    pub credentials: WireCredentials,
    pub tenant: WireTenant,
    pub role_session_name: String,
    /// The session tags the AssumeRole call carried (all transitive).
    pub session_tags: Vec<WireTag>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Seconds since the Unix epoch.
    pub expiration_epoch_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireTenant {
    pub tier: String,
    pub clinic_id: String,
    pub user_id: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireTag {
    pub key: String,
    pub value: String,
}

impl WireTag {
    /// The session tags the code derives for a tenant, in wire form.
    pub fn session_tags_of(ctx: &tenant_context::TenantContext) -> Vec<Self> {
        ctx.session_tags()
            .iter()
            .map(|(k, v)| WireTag {
                key: (*k).to_owned(),
                value: (*v).to_owned(),
            })
            .collect()
    }
}

impl WireTenant {
    pub fn of(ctx: &tenant_context::TenantContext) -> Self {
        Self {
            tier: ctx.tier().to_string(),
            clinic_id: ctx.clinic_id().to_string(),
            user_id: ctx.user().to_string(),
            role: ctx.role().to_string(),
        }
    }
}

impl std::fmt::Debug for VendResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendResponse")
            .field("access_key_id", &self.credentials.access_key_id)
            .field("credentials", &"<redacted>")
            .field("tenant", &self.tenant)
            .field("role_session_name", &self.role_session_name)
            .finish()
    }
}
