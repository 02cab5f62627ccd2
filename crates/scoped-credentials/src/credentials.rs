//! Scoped credentials and the scopes a caller may narrow them to.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tenant_context::TenantContext;

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call sites are the only places a secret leaves this type.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What the credentials may be used for. Each scope becomes an STS session policy, which can
/// only narrow the role's tenant-scoped permissions to one service, never widen them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// DynamoDB: the tenant's partitions.
    Data,
    /// AgentCore Memory: the tenant user's actor and namespaces.
    Memory,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Data => "data",
            Scope::Memory => "memory",
        })
    }
}

impl Scope {
    /// The inline session policy. `service:*` is deliberate here: a session policy is
    /// intersected with the role's policy, so this only removes the other services.
    pub fn session_policy(self) -> String {
        let action = match self {
            Scope::Data => "dynamodb:*",
            Scope::Memory => "bedrock-agentcore:*",
        };
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Action": action, "Resource": "*" }]
        })
        .to_string()
    }
}

/// Temporary credentials whose session is tagged with one tenant user.
#[derive(Clone)]
pub struct ScopedCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: SystemTime,
    /// The tenant the credentials were vended for.
    pub tenant: TenantContext,
    pub role_session_name: String,
}

impl fmt::Debug for ScopedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiration", &self.expiration)
            .field("tenant", &self.tenant)
            .field("role_session_name", &self.role_session_name)
            .finish()
    }
}

impl ScopedCredentials {
    /// As the AWS SDK's credentials type (with expiry, so SDK clients refresh on their own).
    pub fn to_aws(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            &self.access_key_id,
            self.secret_access_key.expose(),
            Some(self.session_token.expose().to_owned()),
            Some(self.expiration),
            "tenantry-scoped",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert!(!format!("{s:?}").contains("wJalr"));
    }

    #[test]
    fn session_policies_name_one_service_each() {
        for (scope, service) in [
            (Scope::Data, "dynamodb:*"),
            (Scope::Memory, "bedrock-agentcore:*"),
        ] {
            let v: serde_json::Value = serde_json::from_str(&scope.session_policy()).unwrap();
            assert_eq!(v["Statement"][0]["Action"], service);
            assert_eq!(v["Statement"].as_array().unwrap().len(), 1);
        }
    }
}
