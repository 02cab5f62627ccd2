//! A Cognito user pool on the moto stand-in, shaped like the deployed one: custom attributes
//! tier, clinic_id and role, an app client that may not write them, users signed in with
//! USER_PASSWORD_AUTH to get real RS256 ID tokens.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, AttributeType, AuthFlowType, ExplicitAuthFlowsType, MessageActionType,
    SchemaAttributeType,
};

use crate::endpoints::{Endpoints, STANDIN_REGION};
use crate::error::Error;

/// Custom attributes the tenant identity lives in; users must never be able to write them.
pub const TENANT_ATTRIBUTES: [&str; 3] = ["tier", "clinic_id", "role"];

/// A user pool and app client on the stand-in.
#[derive(Debug, Clone)]
pub struct LocalPool {
    client: Client,
    pub pool_id: String,
    pub client_id: String,
    /// The `iss` moto puts in tokens: the AWS-style URL, not the stand-in's.
    pub issuer: String,
    /// Where the stand-in serves the pool's keys.
    pub jwks_url: String,
}

/// A user to create: attributes are written by the provider (admin API), never by the user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    /// `custom:*` attributes to set, e.g. `("tier", "basic")`. Omitted ones stay unset.
    pub attributes: Vec<(&'a str, &'a str)>,
}

fn client(endpoints: &Endpoints) -> Client {
    let config = aws_sdk_cognitoidentityprovider::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(STANDIN_REGION))
        .endpoint_url(&endpoints.moto_url)
        // The stand-in ignores credentials; these only satisfy the SigV4 signer.
        .credentials_provider(Credentials::new(
            "standin",
            "standin",
            None,
            None,
            "local-standins",
        ))
        .build();
    Client::from_conf(config)
}

impl LocalPool {
    /// Creates a fresh pool and app client (names are unique per call, so tests can run in
    /// parallel against one stand-in).
    pub async fn create(endpoints: &Endpoints, name: &str) -> Result<Self, Error> {
        let client = client(endpoints);
        let mut req = client.create_user_pool().pool_name(name);
        for attr in TENANT_ATTRIBUTES {
            req = req.schema(
                SchemaAttributeType::builder()
                    .name(attr)
                    .attribute_data_type(AttributeDataType::String)
                    .mutable(true)
                    .build(),
            );
        }
        let pool = req.send().await.map_err(Error::call("CreateUserPool"))?;
        let pool_id = pool
            .user_pool()
            .and_then(|p| p.id())
            .ok_or(Error::MissingField {
                op: "CreateUserPool",
                what: "pool id",
            })?
            .to_owned();
        let app = client
            .create_user_pool_client()
            .user_pool_id(&pool_id)
            .client_name(format!("{name}-app"))
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
            // Users may update only these; the tenant attributes are provider-owned.
            .write_attributes("email")
            .write_attributes("name")
            .send()
            .await
            .map_err(Error::call("CreateUserPoolClient"))?;
        let client_id = app
            .user_pool_client()
            .and_then(|c| c.client_id())
            .ok_or(Error::MissingField {
                op: "CreateUserPoolClient",
                what: "client id",
            })?
            .to_owned();
        Ok(Self {
            issuer: format!("https://cognito-idp.{STANDIN_REGION}.amazonaws.com/{pool_id}"),
            jwks_url: format!("{}/{pool_id}/.well-known/jwks.json", endpoints.moto_url),
            client,
            pool_id,
            client_id,
        })
    }

    /// A pool created earlier (by another process, e.g. the devstack), for signing in.
    pub fn existing(endpoints: &Endpoints, pool_id: &str, client_id: &str) -> Self {
        Self {
            issuer: format!("https://cognito-idp.{STANDIN_REGION}.amazonaws.com/{pool_id}"),
            jwks_url: format!("{}/{pool_id}/.well-known/jwks.json", endpoints.moto_url),
            client: client(endpoints),
            pool_id: pool_id.to_owned(),
            client_id: client_id.to_owned(),
        }
    }

    /// Creates a confirmed user with a permanent password and the given custom attributes.
    pub async fn create_user(&self, user: &NewUser<'_>) -> Result<(), Error> {
        let mut req = self
            .client
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(user.username)
            .message_action(MessageActionType::Suppress);
        for (name, value) in &user.attributes {
            let attr = AttributeType::builder()
                .name(format!("custom:{name}"))
                .value(*value)
                .build()
                .map_err(Error::call("AdminCreateUser attribute"))?;
            req = req.user_attributes(attr);
        }
        req.send().await.map_err(Error::call("AdminCreateUser"))?;
        self.client
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(user.username)
            .password(user.password)
            .permanent(true)
            .send()
            .await
            .map_err(Error::call("AdminSetUserPassword"))?;
        Ok(())
    }

    /// Signs in with USER_PASSWORD_AUTH and returns the ID token.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<String, Error> {
        let out = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await
            .map_err(Error::call("InitiateAuth"))?;
        out.authentication_result()
            .and_then(|r| r.id_token())
            .map(str::to_owned)
            .ok_or(Error::MissingField {
                op: "InitiateAuth",
                what: "ID token",
            })
    }
}

/// A password for a throwaway stand-in user: unique per call, meets Cognito's default policy.
pub fn throwaway_password() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("Standin-{nanos:x}-Aa1!")
}
