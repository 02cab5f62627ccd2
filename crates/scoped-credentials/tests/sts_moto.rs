//! Scoped credentials against the moto STS stand-in: the exact AssumeRole request, the cache
//! (counted STS calls), single flight, refresh near expiry, failures, and the SDK provider.
//!
//! moto does not evaluate IAM: these tests prove what the code sends and caches, not what IAM
//! enforces (that is the opt-in live test in token-vending).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use scoped_credentials::{
    CredentialCache, Error, IssueRequest, Scope, StsIssuer, TenantCredentialsProvider,
};
use tenant_context::{TenantContext, TierCatalog};
use testkit::Endpoints;
use testkit::sdk::{Recorder, config_for, moto_config, recorded_sts_client};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/tenantry-tvm";
const SUB_A: &str = "7d0c3f0e-31a4-4a53-a1bd-4a0c2f3e9b10";
const SUB_B: &str = "2b9e6f7a-8c41-4e55-9d2f-6a7b8c9d0e1f";

fn endpoints() -> Endpoints {
    testkit::endpoints_or_panic()
}

fn tenant(tier: &str, clinic: &str, sub: &str) -> TenantContext {
    TenantContext::parse(
        &TierCatalog::embedded().unwrap(),
        tier,
        clinic,
        sub,
        "clinician",
    )
    .unwrap()
}

fn issuer(recorder: &Recorder) -> StsIssuer {
    let sts = recorded_sts_client(&moto_config(&endpoints()), recorder);
    StsIssuer::new(sts, ROLE_ARN, Duration::from_secs(900)).unwrap()
}

fn req<'a>(t: &'a TenantContext) -> IssueRequest<'a> {
    IssueRequest {
        id_token: "unused-by-the-sts-issuer",
        tenant: t,
        scope: Scope::Data,
    }
}

/// A clock that tests can move forward.
fn clock() -> (Arc<AtomicU64>, scoped_credentials::Clock) {
    let offset = Arc::new(AtomicU64::new(0));
    let o = offset.clone();
    (
        offset,
        Arc::new(move || SystemTime::now() + Duration::from_secs(o.load(Ordering::SeqCst))),
    )
}

fn params(body: &str) -> HashMap<String, String> {
    form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn assume_role_carries_exactly_the_derived_tags_and_session_name() {
    let rec = Recorder::default();
    let t = tenant("basic", "clinic-a", SUB_A);
    let creds = issuer(&rec)
        .assume_role(&t, Scope::Data)
        .await
        .expect("credentials");
    assert_eq!(rec.count("AssumeRole"), 1);
    let p = params(&rec.bodies()[0]);
    assert_eq!(p["RoleArn"], ROLE_ARN);
    assert_eq!(p["RoleSessionName"], t.role_session_name());
    assert_eq!(p["RoleSessionName"], format!("basic.clinic-a.{SUB_A}"));
    assert_eq!(p["DurationSeconds"], "900");
    let tags: Vec<(String, String)> = (1..)
        .map_while(|i| {
            Some((
                p.get(&format!("Tags.member.{i}.Key"))?.clone(),
                p.get(&format!("Tags.member.{i}.Value"))?.clone(),
            ))
        })
        .collect();
    assert_eq!(
        tags,
        vec![
            ("Tier".to_owned(), "basic".to_owned()),
            ("ClinicId".to_owned(), "clinic-a".to_owned()),
            ("UserId".to_owned(), SUB_A.to_owned()),
        ],
        "exactly the three tenant tags, nothing else"
    );
    let transitive: Vec<&str> = (1..)
        .map_while(|i| {
            p.get(&format!("TransitiveTagKeys.member.{i}"))
                .map(String::as_str)
        })
        .collect();
    assert_eq!(transitive, ["Tier", "ClinicId", "UserId"]);
    assert_eq!(
        p.get("Policy").map(String::as_str),
        Some(Scope::Data.session_policy().as_str()),
        "every session is narrowed to its scope"
    );
    assert_eq!(creds.tenant, t);
    assert!(!format!("{creds:?}").contains(creds.secret_access_key.expose()));
}

#[tokio::test]
async fn a_scope_adds_a_one_service_session_policy() {
    let rec = Recorder::default();
    let t = tenant("premium", "hospital-x", SUB_A);
    issuer(&rec).assume_role(&t, Scope::Data).await.unwrap();
    let p = params(&rec.bodies()[0]);
    assert_eq!(p["Policy"], Scope::Data.session_policy());
}

#[tokio::test]
async fn vended_credentials_act_as_the_tagged_session() {
    let rec = Recorder::default();
    let t = tenant("basic", "clinic-a", SUB_A);
    let cache = Arc::new(CredentialCache::new(issuer(&rec)));
    let provider = TenantCredentialsProvider::new(cache, "id-token", t.clone(), Scope::Data);
    let conf = aws_sdk_sts::config::Builder::from(&moto_config(&endpoints()))
        .credentials_provider(provider)
        .build();
    let scoped = aws_sdk_sts::Client::from_conf(conf);
    for _ in 0..3 {
        let who = scoped
            .get_caller_identity()
            .send()
            .await
            .expect("GetCallerIdentity");
        let arn = who.arn().unwrap_or_default();
        assert!(
            arn.ends_with(&format!(
                "assumed-role/tenantry-tvm/{}",
                t.role_session_name()
            )),
            "{arn}"
        );
    }
    // The SDK client asked the provider once; the provider's cache made one STS call.
    assert_eq!(rec.count("AssumeRole"), 1);
}

#[tokio::test]
async fn a_second_request_within_validity_is_served_from_the_cache() {
    let rec = Recorder::default();
    let cache = CredentialCache::new(issuer(&rec));
    let t = tenant("basic", "clinic-a", SUB_A);
    let first = cache.get(req(&t)).await.unwrap();
    let second = cache.get(req(&t)).await.unwrap();
    assert_eq!(first.access_key_id, second.access_key_id);
    assert_eq!(rec.count("AssumeRole"), 1);
    // Another user, and the same user with a scope, are separate sessions.
    let other = cache
        .get(req(&tenant("basic", "clinic-a", SUB_B)))
        .await
        .unwrap();
    assert_ne!(other.access_key_id, first.access_key_id);
    cache
        .get(IssueRequest {
            scope: Scope::Memory,
            ..req(&t)
        })
        .await
        .unwrap();
    assert_eq!(rec.count("AssumeRole"), 3);
}

#[tokio::test]
async fn fifty_concurrent_misses_for_one_user_make_one_sts_call() {
    let rec = Recorder::default();
    let cache = Arc::new(CredentialCache::new(issuer(&rec)));
    let t = Arc::new(tenant("premium", "hospital-x", SUB_A));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, t) = (cache.clone(), t.clone());
            tokio::spawn(async move { cache.get(req(&t)).await.map(|c| c.access_key_id) })
        })
        .collect();
    let mut keys = Vec::new();
    for task in tasks {
        keys.push(task.await.unwrap().unwrap());
    }
    assert_eq!(rec.count("AssumeRole"), 1);
    assert!(keys.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn credentials_near_expiry_are_refreshed() {
    let rec = Recorder::default();
    let (offset, clock) = clock();
    let cache = CredentialCache::with_clock(issuer(&rec), Duration::from_secs(120), clock);
    let t = tenant("basic", "clinic-b", SUB_A);
    let first = cache.get(req(&t)).await.unwrap();
    offset.store(700, Ordering::SeqCst); // 200 s left: still outside the 120 s margin
    assert_eq!(
        cache.get(req(&t)).await.unwrap().access_key_id,
        first.access_key_id
    );
    assert_eq!(rec.count("AssumeRole"), 1);
    offset.store(790, Ordering::SeqCst); // 110 s left: inside the margin
    let refreshed = cache.get(req(&t)).await.unwrap();
    assert_eq!(rec.count("AssumeRole"), 2);
    assert_ne!(refreshed.access_key_id, first.access_key_id);
}

#[tokio::test]
async fn sts_unreachable_gives_a_retryable_error_and_caches_nothing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let rec = Recorder::default();
    let sts = recorded_sts_client(&config_for(&url), &rec);
    let cache =
        CredentialCache::new(StsIssuer::new(sts, ROLE_ARN, Duration::from_secs(900)).unwrap());
    let t = tenant("basic", "clinic-a", SUB_A);
    let err = cache.get(req(&t)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Sts {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
    let attempts = rec.count("AssumeRole");
    assert!(cache.get(req(&t)).await.is_err());
    assert!(
        rec.count("AssumeRole") > attempts,
        "a failure is not cached"
    );
}

#[tokio::test]
async fn an_incomplete_sts_reply_gives_no_credentials() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
    let server = MockServer::builder().start().await;
    // A reply without SessionToken (a stand-in for a faulty upstream).
    let body = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
      <AssumeRoleResult><Credentials>
        <AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>
        <Expiration>2099-01-01T00:00:00Z</Expiration>
      </Credentials>
      <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
      </AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>"#;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/xml"))
        .mount(&server)
        .await;
    let sts = aws_sdk_sts::Client::new(&config_for(&server.uri()));
    let cache =
        CredentialCache::new(StsIssuer::new(sts, ROLE_ARN, Duration::from_secs(900)).unwrap());
    let t = tenant("basic", "clinic-a", SUB_A);
    let err = cache.get(req(&t)).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        matches!(err, Error::Sts { .. } | Error::Incomplete(_)),
        "{err:?}"
    );
    cache.get(req(&t)).await.unwrap_err();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "nothing partial was cached"
    );
}

#[tokio::test]
async fn sts_refusal_is_not_retryable() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
    let server = MockServer::builder().start().await;
    let body = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>
      <Code>AccessDenied</Code><Message>not authorized to perform sts:TagSession</Message></Error>
      <RequestId>1</RequestId></ErrorResponse>"#;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(403).set_body_raw(body, "text/xml"))
        .mount(&server)
        .await;
    let sts = aws_sdk_sts::Client::new(&config_for(&server.uri()));
    let issuer = StsIssuer::new(sts, ROLE_ARN, Duration::from_secs(900)).unwrap();
    let err = issuer
        .assume_role(&tenant("basic", "clinic-a", SUB_A), Scope::Data)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Sts {
                retryable: false,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn only_role_arns_and_allowed_durations_configure_an_issuer() {
    let sts = aws_sdk_sts::Client::new(&config_for("http://127.0.0.1:1"));
    assert!(StsIssuer::new(sts.clone(), "tenantry-tvm", Duration::from_secs(900)).is_err());
    assert!(StsIssuer::new(sts.clone(), ROLE_ARN, Duration::from_secs(60)).is_err());
    assert!(StsIssuer::new(sts, ROLE_ARN, Duration::from_secs(3600)).is_ok());
}
