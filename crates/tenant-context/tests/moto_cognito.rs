//! Real Cognito ID tokens issued by the moto stand-in (a user pool with the custom attributes
//! tier, clinic_id and role), verified through the stand-in's JWKS endpoint.
//!
//! Needs the stand-ins: run through scripts/test.sh (it starts them and sets TENANTRY_MOTO_URL).

use serde_json::Value;
use tenant_context::{Error, IdKind, TierCatalog, TokenVerifier, VerifierConfig};
use testkit::Endpoints;
use testkit::cognito::{LocalPool, NewUser, throwaway_password};

fn endpoints() -> Endpoints {
    testkit::endpoints_or_panic()
}

fn verifier_for(pool: &LocalPool) -> TokenVerifier {
    let cfg = VerifierConfig::new(&pool.issuer, &pool.client_id, &pool.jwks_url).expect("config");
    TokenVerifier::new(cfg, TierCatalog::embedded().expect("tier file")).expect("verifier")
}

async fn pool(test: &str) -> LocalPool {
    LocalPool::create(&endpoints(), &format!("tc-{test}"))
        .await
        .unwrap_or_else(|e| panic!("creating the stand-in user pool: {e:?}"))
}

/// Creates a user with these custom attributes and returns its ID token.
async fn token_for(pool: &LocalPool, username: &str, attrs: &[(&str, &str)]) -> String {
    let password = throwaway_password();
    pool.create_user(&NewUser {
        username,
        password: &password,
        attributes: attrs.to_vec(),
    })
    .await
    .expect("create user");
    pool.sign_in(username, &password).await.expect("sign in")
}

const CLINIC_A: [(&str, &str); 3] = [
    ("tier", "basic"),
    ("clinic_id", "clinic-a"),
    ("role", "clinician"),
];

#[tokio::test]
async fn a_moto_issued_id_token_verifies_through_the_local_jwks() {
    let pool = pool("valid").await;
    let token = token_for(&pool, "dr.ada@clinic-a.example", &CLINIC_A).await;
    let verified = verifier_for(&pool)
        .verify(&token)
        .await
        .expect("moto token verifies");
    assert_eq!(verified.context.tier().as_str(), "basic");
    assert_eq!(verified.context.clinic_id().as_str(), "clinic-a");
    assert_eq!(verified.context.role().as_str(), "clinician");
    // The user key is the Cognito sub, never the username (an email here).
    assert_ne!(verified.context.user().as_str(), "dr.ada@clinic-a.example");
    assert_eq!(
        verified.username.as_deref(),
        Some("dr.ada@clinic-a.example")
    );
}

#[tokio::test]
async fn premium_tenant_gets_premium_context() {
    let pool = pool("premium").await;
    let token = token_for(
        &pool,
        "dr.xu@hospital-x.example",
        &[
            ("tier", "premium"),
            ("clinic_id", "hospital-x"),
            ("role", "clinician"),
        ],
    )
    .await;
    let v = verifier_for(&pool).verify(&token).await.unwrap();
    assert_eq!(v.context.tier().as_str(), "premium");
    assert_eq!(v.context.s3_prefix(), "premium-tier/hospital-x/");
}

#[tokio::test]
async fn an_altered_moto_token_is_rejected() {
    let pool = pool("altered").await;
    let token = token_for(&pool, "dr.ada@clinic-a.example", &CLINIC_A).await;
    let mut parts: Vec<&str> = token.split('.').collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["custom:tier"] = "premium".into();
    let forged_payload = b64.encode(serde_json::to_vec(&claims).unwrap());
    parts[1] = &forged_payload;
    let err = verifier_for(&pool)
        .verify(&parts.join("."))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err:?}");
}

#[tokio::test]
async fn a_moto_token_for_another_app_client_or_pool_is_rejected() {
    let pool = pool("audience").await;
    let token = token_for(&pool, "dr.ada@clinic-a.example", &CLINIC_A).await;
    let catalog = TierCatalog::embedded().unwrap();
    let wrong_aud = VerifierConfig::new(&pool.issuer, "some-other-client", &pool.jwks_url).unwrap();
    let err = TokenVerifier::new(wrong_aud, catalog.clone())
        .unwrap()
        .verify(&token)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongAudience), "{err:?}");
    let wrong_iss = VerifierConfig::new(
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_another",
        &pool.client_id,
        &pool.jwks_url,
    )
    .unwrap();
    let err = TokenVerifier::new(wrong_iss, catalog)
        .unwrap()
        .verify(&token)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongIssuer), "{err:?}");
}

#[tokio::test]
async fn a_moto_user_without_clinic_id_is_rejected() {
    let pool = pool("noclinic").await;
    let token = token_for(
        &pool,
        "orphan@example.com",
        &[("tier", "basic"), ("role", "clinician")],
    )
    .await;
    let err = verifier_for(&pool).verify(&token).await.unwrap_err();
    assert!(
        matches!(err, Error::MissingClaim("custom:clinic_id")),
        "{err:?}"
    );
}

#[tokio::test]
async fn moto_users_with_bad_tenant_attributes_are_rejected() {
    let pool = pool("badattrs").await;
    let v = verifier_for(&pool);
    for (i, (clinic, tier)) in [
        ("clinic-a/../b", "basic"),
        ("Clinic-A", "basic"),
        ("a--b", "basic"),
        (&"a".repeat(49) as &str, "basic"),
        ("clinic-a", "enterprise"),
    ]
    .into_iter()
    .enumerate()
    {
        let token = token_for(
            &pool,
            &format!("user{i}@example.com"),
            &[("tier", tier), ("clinic_id", clinic), ("role", "clinician")],
        )
        .await;
        match v.verify(&token).await {
            Err(Error::InvalidClaim {
                claim: "custom:clinic_id",
                source,
            }) => assert!(
                matches!(
                    *source,
                    Error::InvalidIdentifier {
                        kind: IdKind::ClinicId,
                        ..
                    }
                ),
                "{clinic}"
            ),
            Err(Error::InvalidClaim {
                claim: "custom:tier",
                source,
            }) => {
                assert!(matches!(*source, Error::UnknownTier), "{tier}")
            }
            other => panic!("{clinic}/{tier}: {other:?}"),
        }
    }
}
