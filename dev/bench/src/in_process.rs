//! tool-target's own time per call, measured inside one process: its real handler
//! (`tool_target::handler::handle`) with its real SDK clients, whose HTTP client answers at
//! once from memory (STS AssumeRole, DynamoDB Query and GetItem, canned as AWS sends them).
//! What is left is the function's own work per call: reading the Gateway call, verifying the
//! ID token (keys cached), cross-checking the tenant, the credentials cache, building the
//! tenant's DynamoDB client, the SDK's serialising, signing and parsing, shaping the reply.
//! No Runtime API, no network, no other process on the CPU; one thread, as in the function.
//!
//! Beside it, call by call, the floor under it: the same DynamoDB request alone, through a
//! DynamoDB client of the same SDK configuration and connector, so what the SDK's own
//! orchestration of that one call takes (interceptors, endpoint, signing, parsing) is seen
//! apart from the function's work.

use anyhow::Context as _;
use anyhow::anyhow;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_types::SdkConfig;
use aws_types::region::Region;
use scoped_credentials::{CredentialCache, Issuer, StsIssuer};
use serde_json::{Value, json};
use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};
use testkit::test_issuer::{self, AUDIENCE, ISSUER};
use tool_target::data::Tables;
use tool_target::handler::{Deps, handle};
use tool_target::page_token::PageTokens;
use tool_target::runtime::Invocation;

use crate::functions::client_context;
use crate::report::{Row, Target};
use crate::stats::{Samples, us};

const ASSUME_ROLE: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIABENCHMARK</AccessKeyId><SecretAccessKey>bench-secret</SecretAccessKey><SessionToken>bench-session-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROABENCH:bench</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/tenantry-tenant-data/bench</Arn></AssumedRoleUser><PackedPolicySize>6</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></AssumeRoleResponse>"#;

fn s(v: &str) -> Value {
    json!({ "S": v })
}

fn patient(clinic: &str, n: usize) -> Value {
    json!({
        "clinic_id": s(clinic),
        "patient_id": s(&format!("p-{n:04}")),
        "name": s("Synthetic Patient"),
        "date_of_birth": s("1970-01-01"),
        "conditions": {"L": [s("hypertension"), s("type 2 diabetes")]},
        "allergies": {"L": [s("penicillin")]},
        "last_visit": s("2026-11-30"),
    })
}

/// The SDK clients' HTTP connector: every request answered at once from memory.
#[derive(Debug)]
struct Canned;

impl HttpConnector for Canned {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(Ok(answer(&request)))
    }
}

/// The canned bodies, made once: building them per call would count as the function's time.
static QUERY_REPLY: LazyLock<String> = LazyLock::new(|| {
    json!({"Count": 3, "ScannedCount": 3,
           "Items": (1..=3).map(|n| patient("hospital-x", n)).collect::<Vec<_>>()})
    .to_string()
});
static GET_ITEM_REPLY: LazyLock<String> = LazyLock::new(|| {
    json!({"Item": {"clinic_id": s("clinic-a"), "name": s("Clinic A"),
                    "tier": s("basic"), "timezone": s("America/New_York")}})
    .to_string()
});

/// The registry rows of the two clinics called (read once each: the registry is cached).
static REGISTRY_REPLIES: LazyLock<[String; 2]> = LazyLock::new(|| {
    [("hospital-x", "premium"), ("clinic-a", "basic")].map(|(clinic, tier)| {
        json!({"Item": {"clinic_id": s(clinic), "tier": s(tier), "status": s("active"),
                        "api_key_id": s("bench-key")}})
        .to_string()
    })
});

/// The canned answer to one request, by its operation (as the counting proxy reads it).
fn answer(request: &HttpRequest) -> Response<SdkBody> {
    let (content_type, body): (&str, &str) = match request.headers().get("x-amz-target") {
        Some("DynamoDB_20120810.Query") => ("application/x-amz-json-1.0", &QUERY_REPLY),
        Some("DynamoDB_20120810.GetItem") => ("application/x-amz-json-1.0", get_item(request)),
        // The audit trail: the stream created once, then each patient-data call's event.
        Some("Logs_20140328.CreateLogStream" | "Logs_20140328.PutLogEvents") => {
            ("application/x-amz-json-1.1", "{}")
        }
        _ => ("text/xml", ASSUME_ROLE),
    };
    let mut response = Response::new(
        StatusCode::from(http::StatusCode::OK),
        SdkBody::from(body.as_bytes().to_vec()),
    );
    response.headers_mut().insert("content-type", content_type);
    response
}

const REGISTRY_TABLE: &str = "TenantRegistry";

/// GetItem's reply: a registry row (read once per clinic: the registry is cached) or the
/// clinic's configuration row.
fn get_item(request: &HttpRequest) -> &'static str {
    let body = request
        .body()
        .bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or_default();
    if body.contains(REGISTRY_TABLE) {
        &REGISTRY_REPLIES[usize::from(body.contains("clinic-a"))]
    } else {
        &GET_ITEM_REPLY
    }
}

async fn deps() -> anyhow::Result<(Arc<Deps>, wiremock::MockServer)> {
    let setup = |what: &str, e: &dyn std::fmt::Display| anyhow!("{what}: {e}");
    let sdk = SdkConfig::builder()
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDBENCH",
            "bench",
            None,
            None,
            "bench",
        )))
        .http_client(http_client_fn(|_, _| SharedHttpConnector::new(Canned)))
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .build();
    let idp = test_issuer::jwks_server().await;
    let verifier = TokenVerifier::new(
        VerifierConfig::new(ISSUER, AUDIENCE, test_issuer::jwks_url(&idp))
            .map_err(|e| setup("verifier", &e))?,
        TierCatalog::embedded().map_err(|e| setup("tier file", &e))?,
    )
    .map_err(|e| setup("verifier", &e))?;
    verifier
        .prefetch_keys()
        .await
        .map_err(|e| setup("JWKS", &e))?;
    let issuer = StsIssuer::new(
        aws_sdk_sts::Client::new(&sdk),
        "arn:aws:iam::123456789012:role/tenantry-tenant-data",
        Duration::from_secs(900),
    )
    .map_err(|e| setup("issuer", &e))?;
    let served = tenant_registry::ServedTenants::new(
        tenant_registry::TenantRegistry::new(aws_sdk_dynamodb::Client::new(&sdk), REGISTRY_TABLE),
        tenant_registry::DEFAULT_CACHE,
    );
    let deps = Deps {
        documents: tool_target::documents::DocumentsClient::lazy(&sdk),
        knowledge_bases: tool_target::documents::KnowledgeBases(Default::default()),
        web_search: tool_target::web_search::WebSearch::Offline,
        clients: Default::default(),
        verifier,
        credentials: Arc::new(CredentialCache::new(Issuer::Sts(issuer))),
        tables: Tables {
            patient_table: "PatientMetadata".into(),
            clinic_table: "ClinicConfig".into(),
        },
        page_tokens: PageTokens::new(vec![7u8; 32]).map_err(|e| setup("page tokens", &e))?,
        clock: tool_target::clock::system_clock(),
        served,
        audit: audit_trail::AuditLog::new(&sdk, "/bench/audit"),
        sdk,
    };
    Ok((Arc::new(deps), idp))
}

/// Runs `calls` calls (after a warm-up) and reports the p50 and p99 of the handler's time.
/// On a current-thread runtime of its own, as the function runs (one invocation at a time).
pub async fn run(calls: usize, progress: &mut dyn FnMut(&str)) -> anyhow::Result<Vec<Row>> {
    progress(&format!(
        "functions: tool-target's handler in-process, {calls} calls with STS and DynamoDB answering from memory"
    ));
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("runtime")?
            .block_on(measure(calls))
    })
    .await
    .context("in-process run")?
}

async fn measure(calls: usize) -> anyhow::Result<Vec<Row>> {
    let (deps, _idp) = deps().await?;
    let contexts = [
        client_context("premium", "hospital-x", "patient_context"),
        client_context("basic", "clinic-a", "clinic_config"),
    ];
    let call = |i: usize| Invocation {
        request_id: format!("bench-{i}"),
        deadline_ms: None,
        client_context: Some(contexts[i % 2].clone()),
        trace_id: None,
        payload: bytes::Bytes::from_static(b"{}"),
    };
    let ddb = aws_sdk_dynamodb::Client::new(&deps.sdk);
    let mut samples = Samples::default();
    let mut floor = Samples::default();
    for i in 0..calls.max(1) * 11 / 10 + 20 {
        let began = Instant::now();
        let reply = handle(call(i), deps.clone()).await;
        let took = began.elapsed();
        let ok = reply.get("error").is_none()
            && (reply["count"] == 3 || reply["clinic"]["clinic_id"] == "clinic-a");
        if !ok {
            return Err(crate::failed("tool-target handler", reply.to_string()));
        }
        let began = Instant::now();
        sdk_call(&ddb, i).await?;
        let sdk_took = began.elapsed();
        // The first tenth (and 20) warm the caches: credentials, keys, allocator.
        if i >= calls / 10 + 20 {
            samples.push(took);
            floor.push(sdk_took);
        }
    }
    Ok(vec![
        Row::new(
            "functions",
            "tool-target handler in-process, own time per call p50 (STS and DynamoDB answering from memory)",
            "us",
            None,
            us(samples.p50()),
        ),
        Row::new(
            "functions",
            "tool-target handler in-process, own time per call p99",
            "us",
            None,
            us(samples.p99()),
        )
        .target(Target::AtMost(100.0)),
        Row::new(
            "functions",
            "the AWS SDK's DynamoDB call alone, in-process (the floor under the handler) p50",
            "us",
            None,
            us(floor.p50()),
        ),
        Row::new(
            "functions",
            "the AWS SDK's DynamoDB call alone, in-process p99",
            "us",
            None,
            us(floor.p99()),
        ),
    ])
}

/// The DynamoDB request call `i` of the handler makes: the premium clinic's patients (Query)
/// or the basic clinic's settings (GetItem).
async fn sdk_call(ddb: &aws_sdk_dynamodb::Client, i: usize) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let ok = if i.is_multiple_of(2) {
        ddb.query()
            .table_name("PatientMetadata")
            .key_condition_expression("clinic_id = :c")
            .expression_attribute_values(":c", AttributeValue::S("hospital-x".into()))
            .limit(20)
            .send()
            .await
            .map(|r| r.count() == 3)
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
    } else {
        ddb.get_item()
            .table_name("ClinicConfig")
            .key("clinic_id", AttributeValue::S("clinic-a".into()))
            .send()
            .await
            .map(|r| r.item().is_some())
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
    };
    match ok {
        Ok(true) => Ok(()),
        Ok(false) => Err(crate::failed("SDK call", "an unexpected reply")),
        Err(e) => Err(crate::failed("SDK call", e)),
    }
}
