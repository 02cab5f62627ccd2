//! The token-vending handler against the stand-ins: moto STS (calls counted by an SDK
//! interceptor), tokens from moto's Cognito and from the shared test issuer.

use std::time::Duration;

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use scoped_credentials::Scope;
use scoped_credentials::wire::VendResponse;
use serde_json::{Value, json};
use tenant_context::VerifierConfig;
use testkit::Endpoints;
use testkit::cognito::{LocalPool, NewUser, throwaway_password};
use testkit::sdk::{Recorder, config_for, moto_config, recorded_sts_client};
use testkit::test_issuer::{self, AUDIENCE, ISSUER, OTHER_KEY, USER_SUB};
use token_vending::{AllowedScopes, Config, Deps, VendError, handle};
use wiremock::MockServer;

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/tenantry-tvm";

fn endpoints() -> Endpoints {
    testkit::endpoints_or_panic()
}

fn deps(verifier: VerifierConfig, sts_endpoint: &str, recorder: &Recorder) -> Deps {
    let config = Config {
        verifier,
        role_arn: ROLE_ARN.into(),
        duration: Duration::from_secs(900),
        // tool-target's deployment.
        allowed_scopes: AllowedScopes::parse("data").unwrap(),
    };
    Deps::with_sts(
        config,
        recorded_sts_client(&config_for(sts_endpoint), recorder),
    )
    .unwrap()
}

/// Deps that trust the shared test issuer and call moto's STS.
async fn test_issuer_deps(recorder: &Recorder) -> (MockServer, Deps) {
    let server = test_issuer::jwks_server().await;
    let verifier = VerifierConfig::new(ISSUER, AUDIENCE, test_issuer::jwks_url(&server)).unwrap();
    let d = deps(verifier, &endpoints().moto_url, recorder);
    (server, d)
}

async fn call(payload: Value, deps: &Deps) -> Result<VendResponse, VendError> {
    handle(LambdaEvent::new(payload, Context::default()), deps).await
}

fn fixture(name: &str) -> Value {
    let text = match name {
        "missing-token" => include_str!("../../../events/token-vending/missing-token.json"),
        "not-an-object" => include_str!("../../../events/token-vending/not-an-object.json"),
        "caller-states-tenant" => {
            include_str!("../../../events/token-vending/caller-states-tenant.json")
        }
        "malformed-token" => include_str!("../../../events/token-vending/malformed-token.json"),
        "alg-none-token" => include_str!("../../../events/token-vending/alg-none-token.json"),
        "no-scope" => include_str!("../../../events/token-vending/no-scope.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

fn error_type(e: VendError) -> String {
    Diagnostic::from(e).error_type
}

#[tokio::test]
async fn a_verified_token_gets_credentials_tagged_for_its_tenant() {
    let rec = Recorder::default();
    let (_idp, deps) = test_issuer_deps(&rec).await;
    let token = test_issuer::sign(&test_issuer::id_claims());
    let reply = call(json!({"id_token": token, "scope": "data"}), &deps)
        .await
        .expect("vended");
    assert_eq!(reply.tenant.clinic_id, "clinic-a");
    assert_eq!(reply.tenant.tier, "basic");
    assert_eq!(reply.tenant.user_id, USER_SUB);
    assert_eq!(
        reply.role_session_name,
        format!("basic.clinic-a.{USER_SUB}")
    );
    let tags: Vec<(&str, &str)> = reply
        .session_tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(
        tags,
        [
            ("Tier", "basic"),
            ("ClinicId", "clinic-a"),
            ("UserId", USER_SUB)
        ]
    );
    assert!(!reply.credentials.session_token.is_empty());
    assert_eq!(rec.count("AssumeRole"), 1);
    // The debug form of a reply never shows the secret parts.
    let shown = format!("{reply:?}");
    assert!(
        !shown.contains(&reply.credentials.secret_access_key)
            && !shown.contains(&reply.credentials.session_token)
    );
}

#[tokio::test]
async fn a_moto_issued_cognito_token_gets_credentials() {
    let pool = LocalPool::create(&endpoints(), "tvm-real").await.unwrap();
    let password = throwaway_password();
    pool.create_user(&NewUser {
        username: "dr.xu@hospital-x.example",
        password: &password,
        attributes: vec![
            ("tier", "premium"),
            ("clinic_id", "hospital-x"),
            ("role", "clinician"),
        ],
    })
    .await
    .unwrap();
    let token = pool
        .sign_in("dr.xu@hospital-x.example", &password)
        .await
        .unwrap();
    let rec = Recorder::default();
    let verifier = VerifierConfig::new(&pool.issuer, &pool.client_id, &pool.jwks_url).unwrap();
    let deps = deps(verifier, &endpoints().moto_url, &rec);
    let reply = call(json!({ "id_token": token, "scope": "data" }), &deps)
        .await
        .expect("vended");
    assert_eq!(
        (reply.tenant.tier.as_str(), reply.tenant.clinic_id.as_str()),
        ("premium", "hospital-x")
    );
    // The vended credentials act as the tagged session.
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&moto_config(&endpoints()))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                &reply.credentials.access_key_id,
                &reply.credentials.secret_access_key,
                Some(reply.credentials.session_token.clone()),
                None,
                "test",
            ))
            .build(),
    );
    let who = sts.get_caller_identity().send().await.unwrap();
    assert!(
        who.arn()
            .unwrap_or_default()
            .ends_with(&reply.role_session_name)
    );
}

/// Every refusal: a typed error, and not a single STS call.
#[tokio::test]
async fn bad_tokens_get_typed_errors_and_make_no_sts_call() {
    let rec = Recorder::default();
    let (_idp, deps) = test_issuer_deps(&rec).await;
    let mut expired = test_issuer::id_claims();
    expired["exp"] = (test_issuer::now() - 3600).into();
    let mut other_audience = test_issuer::id_claims();
    other_audience["aud"] = "another-app-client".into();
    let cases = [
        (
            "missing",
            fixture("missing-token"),
            "BadRequest.invalid_event",
        ),
        (
            "not an object",
            fixture("not-an-object"),
            "BadRequest.invalid_event",
        ),
        (
            "caller states tenant",
            fixture("caller-states-tenant"),
            "BadRequest.invalid_event",
        ),
        (
            "id_token not a string",
            json!({"id_token": 42}),
            "BadRequest.invalid_event",
        ),
        (
            "malformed",
            fixture("malformed-token"),
            "Unauthorized.token_malformed",
        ),
        (
            "alg none",
            fixture("alg-none-token"),
            "Unauthorized.token_algorithm",
        ),
        (
            "forged",
            json!({"id_token": test_issuer::sign_with(OTHER_KEY, test_issuer::KID, &test_issuer::id_claims()), "scope": "data"}),
            "Unauthorized.token_bad_signature",
        ),
        (
            "expired",
            json!({"id_token": test_issuer::sign(&expired), "scope": "data"}),
            "Unauthorized.token_expired",
        ),
        (
            "other audience",
            json!({"id_token": test_issuer::sign(&other_audience), "scope": "data"}),
            "Unauthorized.token_wrong_audience",
        ),
        (
            "unknown scope",
            json!({"id_token": test_issuer::sign(&test_issuer::id_claims()), "scope": "admin"}),
            "BadRequest.invalid_event",
        ),
        (
            "no scope: never credentials for every service",
            fixture("no-scope"),
            "BadRequest.invalid_event",
        ),
        (
            "a scope this deployment does not vend to its callers",
            json!({"id_token": test_issuer::sign(&test_issuer::id_claims()), "scope": "memory"}),
            "Forbidden.scope_not_allowed",
        ),
    ];
    for (name, payload, want) in cases {
        let err = call(payload, &deps).await.expect_err(name);
        let message = err.to_string();
        assert_eq!(error_type(err), want, "{name}");
        assert!(
            !message.contains("eyJ"),
            "{name}: the message must not echo a token: {message}"
        );
    }
    assert_eq!(
        rec.count("AssumeRole"),
        0,
        "no STS call for any refused request"
    );
}

#[tokio::test]
async fn an_sts_failure_is_retryable_and_vends_nothing() {
    let idp = test_issuer::jwks_server().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_sts = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let rec = Recorder::default();
    let verifier = VerifierConfig::new(ISSUER, AUDIENCE, test_issuer::jwks_url(&idp)).unwrap();
    let deps = deps(verifier, &dead_sts, &rec);
    let err = call(
        json!({"id_token": test_issuer::sign(&test_issuer::id_claims()), "scope": "data"}),
        &deps,
    )
    .await
    .unwrap_err();
    assert_eq!(error_type(err), "Retryable.sts_failed");
}

#[test]
fn configuration_is_read_once_and_checked() {
    let env = |k: &str| match k {
        "TENANTRY_TOKEN_ISSUER" => Some(ISSUER.to_owned()),
        "TENANTRY_TOKEN_AUDIENCE" => Some(AUDIENCE.to_owned()),
        "TENANTRY_TVM_ROLE_ARN" => Some(ROLE_ARN.to_owned()),
        "TENANTRY_ALLOWED_SCOPES" => Some("data, memory".to_owned()),
        _ => None,
    };
    let c = Config::from_lookup(env).unwrap();
    assert_eq!(c.duration, Duration::from_secs(900));
    assert!(c.allowed_scopes.allows(Scope::Data) && c.allowed_scopes.allows(Scope::Memory));
    // No allowed scopes, none named, or an unknown one (`documents` was one once): the
    // function does not start.
    for scopes in [
        None,
        Some(""),
        Some(" , "),
        Some("data,admin"),
        Some("data,documents"),
        Some("*"),
    ] {
        let refused = Config::from_lookup(|k| {
            if k == "TENANTRY_ALLOWED_SCOPES" {
                scopes.map(str::to_owned)
            } else {
                env(k)
            }
        });
        let message = refused.expect_err("refused").to_string();
        assert!(message.contains("TENANTRY_ALLOWED_SCOPES"), "{message}");
    }
    let no_role = Config::from_lookup(|k| {
        if k == "TENANTRY_TVM_ROLE_ARN" {
            None
        } else {
            env(k)
        }
    });
    assert!(no_role.is_err());
    let too_long = Config::from_lookup(|k| {
        if k == "TENANTRY_CREDENTIALS_DURATION_SECS" {
            Some("43200".into())
        } else {
            env(k)
        }
    });
    assert!(too_long.is_err());
}

#[tokio::test]
async fn tokens_and_secrets_never_reach_the_logs() {
    // The functions' own filter, as an operator debugging with RUST_LOG=trace would set it.
    let (logs, _guard) = testkit::logs::LogCapture::start(telemetry::logging::filter(Some(
        "trace,aws_smithy_runtime=trace,hyper=trace",
    )));

    let rec = Recorder::default();
    let (_idp, deps) = test_issuer_deps(&rec).await;
    let token = test_issuer::sign(&test_issuer::id_claims());
    let reply = call(json!({ "id_token": token, "scope": "data" }), &deps)
        .await
        .expect("vended");
    let forged = test_issuer::sign_with(OTHER_KEY, test_issuer::KID, &test_issuer::id_claims());
    call(json!({ "id_token": forged, "scope": "data" }), &deps)
        .await
        .expect_err("forged");

    let text = logs.text();
    assert!(
        text.contains("vended scoped credentials"),
        "the vend is logged: {text}"
    );
    assert!(text.contains("clinic-a"), "with tenant fields");
    for secret in [
        token.as_str(),
        forged.as_str(),
        reply.credentials.secret_access_key.as_str(),
        reply.credentials.session_token.as_str(),
    ] {
        assert!(!text.contains(secret), "a token or secret reached the logs");
    }
    assert!(!text.contains("eyJ"), "no JWT fragment reached the logs");
}
