//! The adversarial cases of token forgery and confusion, kept as data in
//! `events/adversarial/token-forgery.json`, against the authorizer as API Gateway calls it: each
//! builds a token from the test issuer's valid clinic-a claims (or takes a literal one) and names
//! the outcome it must meet. A refused token must cause no registry lookup. One line per case,
//! then `N passed, M failed`.

mod support;

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use support::*;
use tenant_authorizer::{AuthError, authorize};
use testkit::test_issuer::{self, KID, OTHER_KEY, SIGNING_KEY, SIGNING_PUBLIC_KEY};

const CASES: &str = include_str!("../../../events/adversarial/token-forgery.json");

/// The claims with `changes` applied: null removes, `{"now": n}` is now plus n seconds.
fn changed(mut claims: Value, changes: Option<&Value>) -> Value {
    for (k, v) in changes.and_then(Value::as_object).into_iter().flatten() {
        match v {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(k);
            }
            Value::Object(o) if o.contains_key("now") => {
                let offset = o["now"].as_i64().expect("seconds");
                claims[k] = json!(test_issuer::now() as i64 + offset);
            }
            other => claims[k] = other.clone(),
        }
    }
    claims
}

fn token(case: &Value) -> String {
    if let Some(raw) = case["raw"].as_str() {
        return testkit::adversarial::expand_repeats(raw);
    }
    let claims = changed(test_issuer::id_claims(), case.get("claims"));
    let header = case
        .get("header")
        .cloned()
        .unwrap_or_else(|| json!({"alg": "RS256", "kid": KID, "typ": "JWT"}));
    let input = format!(
        "{}.{}",
        test_issuer::b64(&header),
        test_issuer::b64(&claims)
    );
    let rsa = |pem: &[u8]| EncodingKey::from_rsa_pem(pem).expect("a test key");
    let signature = match case["signer"].as_str().unwrap_or("issuer") {
        "issuer" => {
            jsonwebtoken::crypto::sign(input.as_bytes(), &rsa(SIGNING_KEY), Algorithm::RS256)
        }
        "other-key" => {
            jsonwebtoken::crypto::sign(input.as_bytes(), &rsa(OTHER_KEY), Algorithm::RS256)
        }
        "hs256-public" => jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(SIGNING_PUBLIC_KEY),
            Algorithm::HS256,
        ),
        "none" => Ok(String::new()),
        other => panic!("unknown signer {other}"),
    }
    .expect("signing");
    let signed = format!("{input}.{signature}");
    match case.get("tamper") {
        Some(changes) => test_issuer::with_payload(&signed, &changed(claims, Some(changes))),
        None => signed,
    }
}

#[tokio::test]
async fn every_forged_or_confused_token_meets_its_refusal() {
    let w = world("adversarial", Duration::from_secs(60)).await;
    let cases = &testkit::adversarial::cases(CASES);
    let mut report = testkit::adversarial::Report::default();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let expected = case["expect"].as_str().expect("expect");
        let lookups = w.registry_calls.bodies().len();
        let outcome = match authorize(&request_event(&token(case)), &w.deps).await {
            Err(AuthError::Unauthorized(_)) => "unauthorized".to_owned(),
            Err(e) => format!("error {e}"),
            Ok(resp) => {
                let v = serde_json::to_value(&resp).unwrap();
                match effect(&resp).as_str() {
                    Some("Allow") => "allow".to_owned(),
                    Some("Deny") => {
                        format!("deny:{}", v["context"]["reason"].as_str().unwrap_or("?"))
                    }
                    other => format!("{other:?}"),
                }
            }
        };
        let looked_up = w.registry_calls.bodies().len() > lookups;
        let verdict = if outcome != expected {
            Err(format!("{outcome}, expected {expected}"))
        } else if outcome == "unauthorized" && looked_up {
            Err("a refused token caused a registry lookup".to_owned())
        } else {
            Ok(())
        };
        report.record(name, verdict.map(|()| outcome));
    }
    report.finish(cases, 30, |c| c["expect"] == "allow");
}
