//! The authorizer against the stand-ins: tokens from the shared test issuer (and one from
//! moto's Cognito), the registry on dynalite, the tenants' API keys on moto's API Gateway.

use std::time::Duration;

use serde_json::{Value, json};
use standins::Endpoints;
use standins::dynamo::{RegistryEntry, create_registry};
use standins::sdk::{Recorder, config_for, moto_config};
use standins::test_issuer::{self, AUDIENCE, ISSUER, OTHER_KEY};
use tenant_authorizer::registry::{AwsDirectory, CachedDirectory};
use tenant_authorizer::{AuthError, Deps, authorize};
use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};
use wiremock::MockServer;

const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/invoke";

struct World {
    deps: Deps<CachedDirectory<AwsDirectory>>,
    registry_calls: Recorder,
    keys: Vec<(String, String)>, // (clinic, key value)
    _idp: MockServer,
}

fn endpoints() -> Endpoints {
    Endpoints::from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// Creates an API key on the API Gateway stand-in, tagged as tenant-admin tags a tenant's key
/// (`tags`: the clinic, or none), and returns (id, value).
async fn api_key(
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

async fn world(test: &str, ttl: Duration) -> World {
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
    let rows = [
        ("clinic-a", "active", 0),
        ("clinic-b", "active", 1),
        ("clinic-c", "suspended", 2),
        ("hospital-x", "active", 3),
        ("clinic-d", "active", 4),
        ("clinic-e", "active", 5),
    ];
    let entries: Vec<RegistryEntry> = rows
        .iter()
        .map(|(clinic_id, status, key)| RegistryEntry {
            clinic_id,
            tier: "basic",
            status,
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
            ddb: aws_sdk_dynamodb::Client::from_conf(ddb_conf),
            apigw,
            table,
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

fn token(tier: &str, clinic: &str) -> String {
    test_issuer::id_token(tier, clinic)
}

/// A REST API REQUEST-authorizer event (the Authorization header is the identity source).
fn request_event(token: &str) -> Value {
    json!({
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/invoke",
        "path": "/invoke",
        "httpMethod": "POST",
        "headers": { "Authorization": format!("Bearer {token}") },
    })
}

fn effect(resp: &aws_lambda_events::apigw::ApiGatewayCustomAuthorizerResponse) -> Value {
    serde_json::to_value(resp).unwrap()["policyDocument"]["Statement"][0]["Effect"].clone()
}

impl World {
    fn key_of(&self, clinic: &str) -> String {
        self.keys
            .iter()
            .find(|(c, _)| c == clinic)
            .map(|(_, k)| k.clone())
            .unwrap()
    }
}

#[tokio::test]
async fn each_tenant_gets_its_own_api_key_and_context() {
    let w = world("keys", Duration::from_secs(60)).await;
    for clinic in ["clinic-a", "clinic-b"] {
        let resp = authorize(&request_event(&token("basic", clinic)), &w.deps)
            .await
            .expect("allowed");
        let v = serde_json::to_value(&resp).unwrap();
        assert_eq!(effect(&resp), "Allow");
        assert_eq!(
            v["usageIdentifierKey"],
            w.key_of(clinic),
            "{clinic} is metered on its own key"
        );
        assert_eq!(v["context"]["custom:clinic_id"], clinic);
        assert_eq!(v["context"]["custom:tier"], "basic");
        assert_eq!(v["principalId"], test_issuer::USER_SUB);
        // The policy covers the whole stage, so API Gateway's cached result serves every method.
        assert_eq!(
            v["policyDocument"]["Statement"][0]["Resource"][0],
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
        );
    }
    assert_ne!(w.key_of("clinic-a"), w.key_of("clinic-b"));
}

#[tokio::test]
async fn unknown_suspended_and_tier_mismatched_tenants_are_denied() {
    let w = world("deny", Duration::from_secs(60)).await;
    for (tier, clinic, reason) in [
        ("basic", "clinic-z", "unknown_tenant"),
        ("basic", "clinic-c", "suspended"),
        ("premium", "hospital-x", "tier_mismatch"),
        // The registry names a key not tagged as this tenant's: no such tenant, fail closed.
        ("basic", "clinic-d", "unknown_tenant"),
        ("basic", "clinic-e", "unknown_tenant"),
    ] {
        let resp = authorize(&request_event(&token(tier, clinic)), &w.deps)
            .await
            .expect("a policy");
        let v = serde_json::to_value(&resp).unwrap();
        assert_eq!(effect(&resp), "Deny", "{clinic}");
        assert_eq!(v["context"]["reason"], reason);
        assert!(
            v["usageIdentifierKey"].is_null(),
            "no key for a denied tenant"
        );
    }
}

#[tokio::test]
async fn bad_tokens_are_unauthorized() {
    let w = world("tokens", Duration::from_secs(60)).await;
    let mut expired = test_issuer::id_claims();
    expired["exp"] = (test_issuer::now() - 3600).into();
    let forged = test_issuer::sign_with(OTHER_KEY, test_issuer::KID, &test_issuer::id_claims());
    let cases = [
        json!({"type": "REQUEST", "methodArn": METHOD_ARN, "headers": {}}),
        json!({"type": "REQUEST", "methodArn": METHOD_ARN, "headers": {"Authorization": "Basic dXNlcjpwYXNz"}}),
        request_event("not-a-jwt"),
        request_event(&forged),
        request_event(&test_issuer::sign(&expired)),
        json!({"type": "TOKEN", "methodArn": METHOD_ARN, "authorizationToken": format!("Bearer {forged}")}),
    ];
    for event in cases {
        let err = authorize(&event, &w.deps).await.expect_err("refused");
        assert!(matches!(err, AuthError::Unauthorized(_)), "{err:?}");
        // API Gateway turns exactly this message into HTTP 401.
        assert_eq!(
            lambda_runtime::Diagnostic::from(err).error_message,
            "Unauthorized"
        );
    }
    assert_eq!(
        w.registry_calls.bodies().len(),
        0,
        "no registry lookup for a bad token"
    );
    // A TOKEN authorizer event with a good token works as well.
    let ok = json!({"type": "TOKEN", "methodArn": METHOD_ARN, "authorizationToken": format!("Bearer {}", token("basic", "clinic-a"))});
    assert_eq!(effect(&authorize(&ok, &w.deps).await.unwrap()), "Allow");
}

#[tokio::test]
async fn registry_answers_are_cached_for_the_ttl() {
    let w = world("ttl", Duration::from_millis(300)).await;
    let event = request_event(&token("basic", "clinic-a"));
    authorize(&event, &w.deps).await.unwrap();
    authorize(&event, &w.deps).await.unwrap();
    assert_eq!(
        w.registry_calls.bodies().len(),
        1,
        "second lookup served from the cache"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    authorize(&event, &w.deps).await.unwrap();
    assert_eq!(
        w.registry_calls.bodies().len(),
        2,
        "looked up again after the TTL"
    );
}

#[tokio::test]
async fn a_malformed_event_is_a_typed_error() {
    let w = world("events", Duration::from_secs(60)).await;
    for event in [
        json!({}),
        json!({"methodArn": "arn:aws:s3:::bucket", "authorizationToken": "Bearer x"}),
    ] {
        assert!(matches!(
            authorize(&event, &w.deps).await,
            Err(AuthError::BadEvent(_))
        ));
    }
}

#[tokio::test]
async fn a_moto_issued_cognito_token_is_allowed() {
    use standins::cognito::{LocalPool, NewUser, throwaway_password};
    let endpoints = endpoints();
    let pool = LocalPool::create(&endpoints, "auth-real").await.unwrap();
    let password = throwaway_password();
    pool.create_user(&NewUser {
        username: "dr.ben@clinic-b.example",
        password: &password,
        attributes: vec![
            ("tier", "basic"),
            ("clinic_id", "clinic-b"),
            ("role", "clinician"),
        ],
    })
    .await
    .unwrap();
    let token = pool
        .sign_in("dr.ben@clinic-b.example", &password)
        .await
        .unwrap();
    let mut w = world("real", Duration::from_secs(60)).await;
    w.deps.verifier = TokenVerifier::new(
        VerifierConfig::new(&pool.issuer, &pool.client_id, &pool.jwks_url).unwrap(),
        TierCatalog::embedded().unwrap(),
    )
    .unwrap();
    let resp = authorize(&request_event(&token), &w.deps).await.unwrap();
    let v = serde_json::to_value(&resp).unwrap();
    assert_eq!(effect(&resp), "Allow");
    assert_eq!(v["usageIdentifierKey"], w.key_of("clinic-b"));
}

/// The events in events/tenant-authorizer, with a fresh token put in.
#[tokio::test]
async fn the_event_fixtures_are_allowed_with_a_valid_token() {
    let w = world("fixtures", Duration::from_secs(60)).await;
    for fixture in [
        include_str!("../../../events/tenant-authorizer/request-event.json"),
        include_str!("../../../events/tenant-authorizer/token-event.json"),
    ] {
        let event: Value =
            serde_json::from_str(&fixture.replace("${ID_TOKEN}", &token("basic", "clinic-a")))
                .unwrap();
        let resp = authorize(&event, &w.deps).await.expect("allowed");
        assert_eq!(effect(&resp), "Allow");
        let placeholder: Value = serde_json::from_str(fixture).unwrap();
        assert!(matches!(
            authorize(&placeholder, &w.deps).await,
            Err(AuthError::Unauthorized(_))
        ));
    }
}
