//! What the authorizer tests share: a world on the stand-ins (tenants' API keys on moto's API
//! Gateway, the registry on dynalite, tokens from the shared test issuer), events and verdicts.
#![allow(dead_code)] // each test crate uses a different subset

use std::time::Duration;

use serde_json::{Value, json};
use tenant_authorizer::Deps;
use tenant_authorizer::registry::{AwsDirectory, CachedDirectory};
use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};
use testkit::Endpoints;
use testkit::dynamo::{RegistryEntry, create_registry};
use testkit::sdk::{Recorder, config_for, moto_config};
use testkit::test_issuer::{self, AUDIENCE, ISSUER};
use wiremock::MockServer;

pub const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/invoke";

pub struct World {
    pub deps: Deps<CachedDirectory<AwsDirectory>>,
    pub registry_calls: Recorder,
    pub keys: Vec<(String, String)>, // (clinic, key value)
    pub _idp: MockServer,
}

pub fn endpoints() -> Endpoints {
    testkit::endpoints_or_panic()
}

/// Creates an API key on the API Gateway stand-in, tagged as tenant-admin tags a tenant's key
/// (`tags`: the clinic, or none), and returns (id, value).
pub async fn api_key(
    apigw: &aws_sdk_apigateway::Client,
    name: &str,
    tags: Option<&str>,
) -> (String, String) {
    let value = format!("{name}-key-{}", test_issuer::now());
    let mut req = apigw
        .create_api_key()
        .name(name)
        .value(&value)
        .enabled(true);
    if let Some(clinic) = tags {
        req = req.tags("Application", "tenantry").tags("ClinicId", clinic);
    }
    let out = req.send().await.expect("CreateApiKey on moto");
    (out.id().expect("key id").to_owned(), value)
}

pub async fn world(test: &str, ttl: Duration) -> World {
    let endpoints = endpoints();
    let apigw = aws_sdk_apigateway::Client::new(&moto_config(&endpoints));
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for clinic in ["clinic-a", "clinic-b", "clinic-c", "hospital-x"] {
        let (id, value) = api_key(&apigw, &format!("{test}-{clinic}"), Some(clinic)).await;
        keys.push((clinic.to_owned(), value));
        ids.push(id);
    }
    // Registry rows naming keys that are not theirs: clinic-d names clinic-a's key, clinic-e
    // an untagged key (say, an operator's key in a generous usage plan).
    ids.push(ids[0].clone());
    ids.push(api_key(&apigw, &format!("{test}-operator"), None).await.0);
    // (clinic, status, index of its key in `ids`); every row says basic. hospital-x is
    // registered as basic, so a premium token for it is a tier mismatch.
    use tenant_registry::TenantStatus::{Active, Suspended};
    let rows = [
        ("clinic-a", Active, 0),
        ("clinic-b", Active, 1),
        ("clinic-c", Suspended, 2),
        ("hospital-x", Active, 3),
        ("clinic-d", Active, 4),
        ("clinic-e", Active, 5),
    ];
    let entries: Vec<RegistryEntry> = rows
        .iter()
        .map(|(clinic_id, status, key)| RegistryEntry {
            clinic_id,
            tier: "basic",
            status: *status,
            api_key_id: &ids[*key],
        })
        .collect();
    let table = create_registry(&endpoints, &format!("auth-{test}"), &entries)
        .await
        .expect("registry");
    let registry_calls = Recorder::default();
    let ddb_conf = aws_sdk_dynamodb::config::Builder::from(&config_for(
        endpoints.dynamodb_url.as_deref().unwrap(),
    ))
    .interceptor(registry_calls.clone())
    .build();
    let idp = test_issuer::jwks_server().await;
    let verifier = TokenVerifier::new(
        VerifierConfig::new(ISSUER, AUDIENCE, test_issuer::jwks_url(&idp)).unwrap(),
        TierCatalog::embedded().unwrap(),
    )
    .unwrap();
    let directory = CachedDirectory::new(
        AwsDirectory {
            registry: tenant_registry::TenantRegistry::new(
                aws_sdk_dynamodb::Client::from_conf(ddb_conf),
                table,
            ),
            apigw,
        },
        ttl,
    );
    World {
        deps: Deps {
            verifier,
            directory,
        },
        registry_calls,
        keys,
        _idp: idp,
    }
}

pub fn token(tier: &str, clinic: &str) -> String {
    test_issuer::id_token(tier, clinic)
}

/// A REST API REQUEST-authorizer event (the Authorization header is the identity source).
pub fn request_event(token: &str) -> Value {
    json!({
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/invoke",
        "path": "/invoke",
        "httpMethod": "POST",
        "headers": { "Authorization": format!("Bearer {token}") },
    })
}

pub fn effect(resp: &aws_lambda_events::apigw::ApiGatewayCustomAuthorizerResponse) -> Value {
    serde_json::to_value(resp).unwrap()["policyDocument"]["Statement"][0]["Effect"].clone()
}

impl World {
    pub fn key_of(&self, clinic: &str) -> String {
        self.keys
            .iter()
            .find(|(c, _)| c == clinic)
            .map(|(_, k)| k.clone())
            .unwrap()
    }
}
