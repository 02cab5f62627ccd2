//! A LOCAL STAND-IN issuer for tests: a test-only RSA key whose JWKS a mock server publishes on
//! 127.0.0.1, and helpers to mint, forge and alter ID tokens shaped like Cognito's. Lets tests
//! produce tokens moto cannot (expired, not yet valid, wrong algorithm, another signer).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const SIGNING_KEY: &[u8] = include_bytes!("../fixtures/test-only-signing-key.pem");
pub const SIGNING_PUBLIC_KEY: &[u8] = include_bytes!("../fixtures/test-only-signing-key.pub.pem");
pub const OTHER_KEY: &[u8] = include_bytes!("../fixtures/test-only-other-key.pem");
pub const KID: &str = "test-key-1";
pub const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool";
pub const AUDIENCE: &str = "test-app-client-id";
pub const JWKS_PATH: &str = "/us-east-1_TestPool/.well-known/jwks.json";
pub const USER_SUB: &str = "6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Claims of a valid clinic-a (basic tier) ID token.
pub fn id_claims() -> Value {
    let now = now();
    json!({
        "sub": USER_SUB,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "token_use": "id",
        "iat": now,
        "auth_time": now,
        "exp": now + 3600,
        "cognito:username": "dr.ada@clinic-a.example",
        "custom:tier": "basic",
        "custom:clinic_id": "clinic-a",
        "custom:role": "clinician",
    })
}

fn encoding_key(pem: &[u8]) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem).expect("test key is a valid RSA PEM")
}

/// Signs `claims` with RS256 and the given key, under `kid`.
pub fn sign_with(pem: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &encoding_key(pem)).expect("signing works")
}

/// A valid ID token for the test user as a member of `clinic` on `tier`.
pub fn id_token(tier: &str, clinic: &str) -> String {
    let mut claims = id_claims();
    claims["custom:tier"] = tier.into();
    claims["custom:clinic_id"] = clinic.into();
    sign(&claims)
}

/// A token signed by the issuer's key.
pub fn sign(claims: &Value) -> String {
    sign_with(SIGNING_KEY, KID, claims)
}

pub fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

/// Replaces the payload of a signed token, keeping its header and signature.
pub fn with_payload(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let (h, _, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    format!("{h}.{}.{s}", b64(claims))
}

/// The issuer's JWKS, as Cognito publishes it.
pub fn jwks() -> Value {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(SIGNING_KEY), Algorithm::RS256)
        .expect("JWK from test key");
    jwk.common.key_id = Some(KID.to_owned());
    serde_json::to_value(JwkSet { keys: vec![jwk] }).expect("jwks json")
}

/// A mock identity provider on 127.0.0.1 serving `jwks()`. Not pooled: dropping it really
/// closes the port, which the outage tests rely on.
pub async fn jwks_server() -> MockServer {
    let server = MockServer::builder().start().await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks()))
        .mount(&server)
        .await;
    server
}

pub async fn jwks_requests(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .map(|r| r.len())
        .unwrap_or_default()
}

/// The JWKS URL of `server`.
pub fn jwks_url(server: &MockServer) -> String {
    format!("{}{JWKS_PATH}", server.uri())
}
