//! Token verification against an issuer of our own (test-only key, JWKS on 127.0.0.1): every
//! rejection the identity rules require, and the JWKS cache's behaviour when the endpoint is
//! slow to change or down.

mod support;

use contracts::headers::{
    CLINIC_ID as HEADER_CLINIC_ID, S3_PREFIX as HEADER_S3_PREFIX, TIER as HEADER_TIER,
};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::*;
use tenant_context::{Error, IdKind, TenantContext, VerifierConfig};

async fn verify_claims(claims: &Value) -> Result<tenant_context::VerifiedToken, Error> {
    let server = jwks_server().await;
    verifier(config_for(&server.uri()))
        .verify(&sign(claims))
        .await
}

#[tokio::test]
async fn a_valid_token_yields_its_tenant_context() {
    let v = verify_claims(&id_claims()).await.expect("valid token");
    assert_eq!(v.context.tier().as_str(), "basic");
    assert_eq!(v.context.clinic_id().as_str(), "clinic-a");
    assert_eq!(v.context.user().as_str(), USER_SUB);
    assert_eq!(v.context.role().as_str(), "clinician");
    assert_eq!(v.username.as_deref(), Some("dr.ada@clinic-a.example"));
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let server = jwks_server().await;
    let token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": KID})),
        b64(&id_claims())
    );
    let err = verifier(config_for(&server.uri()))
        .verify(&token)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedAlgorithm(a) if a == "none"),
        "{err:?}"
    );
    assert_eq!(
        jwks_requests(&server).await,
        0,
        "refused before any key lookup"
    );
}

/// RFC 7515 §4.1.11: a correctly signed token that marks a header extension as critical must
/// be refused by a verifier that does not implement it.
#[tokio::test]
async fn a_signed_token_with_critical_header_extensions_is_rejected() {
    let server = jwks_server().await;
    for crit in [json!(["exp"]), json!(["x-tenantry-override"]), json!([])] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.into());
        let token = jsonwebtoken::encode(
            &header,
            &id_claims(),
            &EncodingKey::from_rsa_pem(SIGNING_KEY).unwrap(),
        )
        .unwrap();
        // The same token with `crit` added to its header and signed again.
        let mut h: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                token.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        h["crit"] = crit.clone();
        h["x-tenantry-override"] = json!(true);
        let signing_input = format!("{}.{}", b64(&h), token.split('.').nth(1).unwrap());
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_rsa_pem(SIGNING_KEY).unwrap(),
            Algorithm::RS256,
        )
        .unwrap();
        let critical = format!("{signing_input}.{signature}");
        let err = verifier(config_for(&server.uri()))
            .verify(&critical)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::CriticalExtension), "{crit}: {err:?}");
        assert!(err.is_identity_rejection());
    }
    // Without `crit` the same key and claims verify: the refusal is the extension's.
    verifier(config_for(&server.uri()))
        .verify(&sign(&id_claims()))
        .await
        .expect("valid");
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_rejected() {
    let server = jwks_server().await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID.into());
    let token = jsonwebtoken::encode(
        &header,
        &id_claims(),
        &EncodingKey::from_secret(SIGNING_PUBLIC_KEY),
    )
    .expect("hs256 signing");
    let err = verifier(config_for(&server.uri()))
        .verify(&token)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedAlgorithm(a) if a == "HS256"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_altered_payload_is_rejected() {
    let server = jwks_server().await;
    let good = sign(&id_claims());
    let mut claims = id_claims();
    claims["custom:clinic_id"] = "clinic-b".into();
    let err = verifier(config_for(&server.uri()))
        .verify(&with_payload(&good, &claims))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err:?}");
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_the_issuers_kid_is_rejected() {
    let server = jwks_server().await;
    let token = sign_with(OTHER_KEY, KID, &id_claims());
    let err = verifier(config_for(&server.uri()))
        .verify(&token)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature), "{err:?}");
}

#[tokio::test]
async fn wrong_issuer_is_rejected() {
    let mut c = id_claims();
    c["iss"] = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool".into();
    assert!(matches!(verify_claims(&c).await, Err(Error::WrongIssuer)));
}

#[tokio::test]
async fn wrong_audience_is_rejected() {
    let mut c = id_claims();
    c["aud"] = "another-app-client".into();
    assert!(matches!(verify_claims(&c).await, Err(Error::WrongAudience)));
}

#[tokio::test]
async fn an_access_token_is_rejected() {
    let mut c = id_claims();
    c["token_use"] = "access".into();
    assert!(matches!(verify_claims(&c).await, Err(Error::WrongTokenUse)));
    c.as_object_mut().unwrap().remove("token_use");
    assert!(matches!(verify_claims(&c).await, Err(Error::WrongTokenUse)));
}

#[tokio::test]
async fn an_expired_token_is_rejected_beyond_the_skew() {
    let mut c = id_claims();
    c["exp"] = (now() - 120).into();
    assert!(matches!(verify_claims(&c).await, Err(Error::Expired)));
    // Within the configured skew (30 s by default) it is still accepted.
    c["exp"] = (now() - 5).into();
    assert!(verify_claims(&c).await.is_ok());
}

#[tokio::test]
async fn a_token_not_yet_valid_is_rejected() {
    let mut c = id_claims();
    c["nbf"] = (now() + 120).into();
    assert!(matches!(verify_claims(&c).await, Err(Error::NotYetValid)));
}

/// jsonwebtoken checks exp and nbf only: a token issued in the future (beyond the leeway) is
/// refused by the verifier itself, and one within the leeway is not.
#[tokio::test]
async fn a_token_issued_in_the_future_is_rejected() {
    let mut c = id_claims();
    c["iat"] = (now() + 3600).into();
    c["exp"] = (now() + 7200).into();
    assert!(matches!(verify_claims(&c).await, Err(Error::NotYetValid)));
    c["iat"] = (now() + 10).into();
    assert!(verify_claims(&c).await.is_ok(), "within the leeway");
}

#[tokio::test]
async fn a_token_without_exp_is_rejected() {
    let mut c = id_claims();
    c.as_object_mut().unwrap().remove("exp");
    assert!(matches!(
        verify_claims(&c).await,
        Err(Error::MissingClaim("exp"))
    ));
}

#[tokio::test]
async fn an_unknown_kid_is_rejected_and_refreshes_at_most_once_per_interval() {
    let server = jwks_server().await;
    let v = verifier(config_for(&server.uri()));
    let token = sign_with(SIGNING_KEY, "rotated-away", &id_claims());
    assert!(matches!(v.verify(&token).await, Err(Error::UnknownKid)));
    assert_eq!(jwks_requests(&server).await, 1);
    // Further unknown kids within the interval do not reach the identity provider.
    for kid in ["k2", "k3", "k4"] {
        let t = sign_with(SIGNING_KEY, kid, &id_claims());
        assert!(matches!(v.verify(&t).await, Err(Error::UnknownKid)));
    }
    assert_eq!(jwks_requests(&server).await, 1);
    // Known kids keep verifying from the cache.
    v.verify(&sign(&id_claims())).await.expect("known kid");
    assert_eq!(jwks_requests(&server).await, 1);
}

#[tokio::test]
async fn an_unknown_kid_refreshes_again_after_the_interval() {
    let server = jwks_server().await;
    let v = verifier(
        config_for(&server.uri()).with_jwks_min_refresh_interval(Duration::from_millis(200)),
    );
    let token = sign_with(SIGNING_KEY, "not-there", &id_claims());
    assert!(matches!(v.verify(&token).await, Err(Error::UnknownKid)));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(v.verify(&token).await, Err(Error::UnknownKid)));
    assert_eq!(jwks_requests(&server).await, 2);
}

#[tokio::test]
async fn a_token_without_kid_is_rejected() {
    let server = jwks_server().await;
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &id_claims(),
        &EncodingKey::from_rsa_pem(SIGNING_KEY).unwrap(),
    )
    .unwrap();
    let err = verifier(config_for(&server.uri()))
        .verify(&token)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingKid), "{err:?}");
}

#[tokio::test]
async fn concurrent_misses_share_one_jwks_fetch() {
    let server = jwks_server().await;
    let v = Arc::new(verifier(config_for(&server.uri())));
    let token = Arc::new(sign(&id_claims()));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (v, t) = (v.clone(), token.clone());
            tokio::spawn(async move { v.verify(&t).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("verified");
    }
    assert_eq!(jwks_requests(&server).await, 1);
}

#[tokio::test]
async fn jwks_down_cached_keys_keep_working() {
    let server = jwks_server().await;
    let v = verifier(config_for(&server.uri()).with_jwks_min_refresh_interval(Duration::ZERO));
    v.verify(&sign(&id_claims())).await.expect("warm the cache");
    drop(server); // the identity provider goes away
    v.verify(&sign(&id_claims()))
        .await
        .expect("cached key still verifies");
    // A new kid cannot be fetched: the error says the JWKS is unavailable, not "unknown kid".
    let err = v
        .verify(&sign_with(SIGNING_KEY, "new-kid", &id_claims()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::JwksUnavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn jwks_down_with_no_cached_key_says_so() {
    let server = jwks_server().await;
    let uri = server.uri();
    drop(server);
    let v = verifier(config_for(&uri));
    let err = v.verify(&sign(&id_claims())).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::JwksUnavailable { .. }), "{err:?}");
    assert!(
        msg.contains("no cached key") && msg.contains(JWKS_PATH),
        "{msg}"
    );
    assert!(matches!(
        v.prefetch_keys().await,
        Err(Error::JwksUnavailable { .. })
    ));
}

#[tokio::test]
async fn jwks_http_error_is_unavailable_not_unknown_kid() {
    let server = wiremock::MockServer::builder().start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = verifier(config_for(&server.uri()))
        .verify(&sign(&id_claims()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
}

#[tokio::test]
async fn missing_clinic_id_is_rejected() {
    let mut c = id_claims();
    c.as_object_mut().unwrap().remove("custom:clinic_id");
    assert!(matches!(
        verify_claims(&c).await,
        Err(Error::MissingClaim("custom:clinic_id"))
    ));
}

#[tokio::test]
async fn clinic_ids_outside_the_grammar_are_rejected() {
    for bad in ["clinic-a/../b", "Clinic-A", "a--b", "", &"a".repeat(49)] {
        let mut c = id_claims();
        c["custom:clinic_id"] = bad.into();
        match verify_claims(&c).await {
            Err(Error::InvalidClaim { claim, source }) => {
                assert_eq!(claim, "custom:clinic_id");
                assert!(
                    matches!(
                        *source,
                        Error::InvalidIdentifier {
                            kind: IdKind::ClinicId,
                            ..
                        }
                    ),
                    "{bad}: {source:?}"
                );
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_clinic_id_that_is_not_a_string_is_rejected() {
    let mut c = id_claims();
    c["custom:clinic_id"] = json!(["clinic-a", "clinic-b"]);
    assert!(matches!(
        verify_claims(&c).await,
        Err(Error::ClaimNotString("custom:clinic_id"))
    ));
}

#[tokio::test]
async fn a_tier_not_in_the_tier_file_is_rejected() {
    let mut c = id_claims();
    c["custom:tier"] = "enterprise".into();
    match verify_claims(&c).await {
        Err(Error::InvalidClaim {
            claim: "custom:tier",
            source,
        }) => {
            assert!(matches!(*source, Error::UnknownTier))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn headers_that_disagree_with_the_token_are_rejected() {
    let verified = verify_claims(&id_claims()).await.unwrap().context;
    let agree = [
        (HEADER_TIER, "basic"),
        (HEADER_CLINIC_ID, "clinic-a"),
        (HEADER_S3_PREFIX, "basic-tier/clinic-a/"),
    ];
    assert_eq!(
        TenantContext::from_propagated_headers(agree, &verified).unwrap(),
        verified
    );
    let forged = [
        (HEADER_TIER, "premium"),
        (HEADER_CLINIC_ID, "hospital-x"),
        (HEADER_S3_PREFIX, "premium-tier/hospital-x/"),
    ];
    assert!(matches!(
        TenantContext::from_propagated_headers(forged, &verified),
        Err(Error::HeaderMismatch(HEADER_TIER))
    ));
}

#[tokio::test]
async fn oversized_and_malformed_tokens_are_rejected_without_a_key_lookup() {
    let server = jwks_server().await;
    let v = verifier(config_for(&server.uri()));
    for bad in ["", "a.b", "a.b.c.d", "!!!.e30.", &"a".repeat(20_000)] {
        assert!(
            matches!(v.verify(bad).await, Err(Error::TokenMalformed)),
            "{bad:.20}"
        );
    }
    assert_eq!(jwks_requests(&server).await, 0);
}

#[test]
fn configuration_is_checked() {
    let cfg = VerifierConfig::new(ISSUER, AUDIENCE, "https://example.com/jwks.json").unwrap();
    assert!(cfg.clone().with_leeway(Duration::from_secs(60)).is_ok());
    assert!(matches!(
        cfg.with_leeway(Duration::from_secs(61)),
        Err(Error::Config {
            field: "leeway",
            ..
        })
    ));
    for bad in [
        "http://idp.example.com/jwks.json",
        "ftp://127.0.0.1/x",
        "not a url",
    ] {
        assert!(VerifierConfig::new(ISSUER, AUDIENCE, bad).is_err(), "{bad}");
    }
    assert!(VerifierConfig::new(ISSUER, AUDIENCE, "http://127.0.0.1:1/jwks.json").is_ok());
    assert!(VerifierConfig::new("", AUDIENCE, "https://x/j").is_err());
    assert!(VerifierConfig::new(ISSUER, " ", "https://x/j").is_err());
}

#[test]
fn configuration_from_environment() {
    let env = |k: &str| match k {
        "TENANTRY_TOKEN_ISSUER" => Some(ISSUER.to_string()),
        "TENANTRY_TOKEN_AUDIENCE" => Some(AUDIENCE.to_string()),
        _ => None,
    };
    let cfg = VerifierConfig::from_lookup(env).unwrap();
    assert_eq!(cfg.jwks_url(), format!("{ISSUER}/.well-known/jwks.json"));
    let missing =
        VerifierConfig::from_lookup(|k| (k != "TENANTRY_TOKEN_AUDIENCE").then(|| env(k)).flatten());
    assert!(matches!(
        missing,
        Err(Error::Config {
            field: "audience",
            ..
        })
    ));
    let too_lax = VerifierConfig::from_lookup(|k| {
        if k == "TENANTRY_TOKEN_LEEWAY_SECS" {
            Some("300".into())
        } else {
            env(k)
        }
    });
    assert!(matches!(
        too_lax,
        Err(Error::Config {
            field: "leeway",
            ..
        })
    ));
}

/// A verified token is remembered (see `KEEP_VERIFIED`), but never past its `exp`: the next
/// call after that verifies it in full and refuses it.
#[tokio::test]
async fn a_remembered_token_is_refused_once_it_expires() {
    let server = jwks_server().await;
    let v = verifier(
        config_for(&server.uri())
            .with_leeway(Duration::ZERO)
            .unwrap(),
    );
    let mut c = id_claims();
    c["exp"] = (now() + 2).into();
    let token = sign(&c);
    v.verify(&token).await.expect("valid for two more seconds");
    v.verify(&token).await.expect("still valid");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert!(
        matches!(v.verify(&token).await, Err(Error::Expired)),
        "remembered past its exp"
    );
}

/// Only the identical token is remembered: a tampered copy of a verified token, or another
/// user's token, is verified in full and yields its own outcome.
#[tokio::test]
async fn only_the_identical_token_is_remembered() {
    let server = jwks_server().await;
    let v = verifier(config_for(&server.uri()));
    let token = sign(&id_claims());
    let ada = v.verify(&token).await.expect("valid");
    assert_eq!(ada.context.clinic_id().as_str(), "clinic-a");

    // Ada's header and signature around claims naming another clinic.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut forged = id_claims();
    forged["custom:clinic_id"] = "clinic-b".into();
    parts[1] = b64(&forged);
    assert!(matches!(
        v.verify(&parts.join(".")).await,
        Err(Error::BadSignature)
    ));
    // Ada's header and claims with one signature character changed.
    let mut altered = token.clone().into_bytes();
    let at = altered.len() - 10;
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    assert!(matches!(v.verify(&altered).await, Err(Error::BadSignature)));

    let mut ben = id_claims();
    ben["custom:clinic_id"] = "clinic-b".into();
    ben["sub"] = "b2c3d4e5-0000-4000-8000-000000000002".into();
    let ben = v.verify(&sign(&ben)).await.expect("ben's own token");
    assert_eq!(ben.context.clinic_id().as_str(), "clinic-b");
    assert_ne!(ben.context.user(), ada.context.user());
    // Ada's token still yields Ada.
    let again = v.verify(&token).await.expect("valid");
    assert_eq!(again.context.clinic_id().as_str(), "clinic-a");
}
