//! The authorizer against the stand-ins: tokens from the shared test issuer (and one from
//! moto's Cognito), the registry on dynalite, the tenants' API keys on moto's API Gateway.

use std::time::Duration;

use serde_json::{Value, json};
use tenant_authorizer::{AuthError, authorize};
use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};
use testkit::test_issuer::{self, OTHER_KEY};

mod support;

use support::*;

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
    use testkit::cognito::{LocalPool, NewUser, throwaway_password};
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
