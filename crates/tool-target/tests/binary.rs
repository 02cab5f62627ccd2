//! The real `tool-target` binary, configured only through its environment as on Lambda, driven
//! through its runtime loop by a local Runtime API (a mock on 127.0.0.1) that serves
//! AgentCore-Gateway-shaped invocations (propagated headers as a nested object) mixed with
//! malformed ones. Every invocation must be answered and the loop must keep serving; data
//! comes from dynalite through credentials vended by moto STS.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use support::{event, replies, runtime_api};
use testkit::Endpoints;
use testkit::test_issuer::{self, AUDIENCE, ISSUER};

fn token(tier: &str, clinic: &str) -> String {
    test_issuer::id_token(tier, clinic)
}

fn gateway_context(tool: &str, tier: &str, clinic: &str) -> String {
    json!({"custom": {
        "bedrockAgentCoreToolName": format!("tenantry-{tier}-tools___{tool}"),
        "bedrockAgentCoreGatewayId": "gw-local",
        "bedrockAgentCoreMcpMessageId": "1",
        "bedrockAgentCorePropagatedHeaders": {
            "X-Id-Token": token(tier, clinic),
            "X-Tier": tier,
            "X-Clinic-ID": clinic,
            "X-S3-Prefix": format!("{tier}-tier/{clinic}/"),
        }
    }})
    .to_string()
}

#[tokio::test]
async fn the_binary_serves_gateway_calls_and_survives_malformed_ones() {
    let endpoints = testkit::endpoints_or_panic();
    let dynamodb = endpoints.dynamodb_url.clone().expect("dynalite url");
    let tables = testkit::dynamo::create_and_load(&endpoints, "bin")
        .await
        .expect("tables");
    let idp = test_issuer::jwks_server().await;
    let contexts = [
        gateway_context("patient_context", "premium", "hospital-x"),
        gateway_context("clinic_config", "basic", "clinic-a"),
        gateway_context("drop_tables", "basic", "clinic-a"),
    ];
    let api = runtime_api(vec![
        // Premium patient_context is allowed at any hour, so the system clock does not matter.
        event("1-premium-list", Some(&contexts[0]), json!({})),
        event("2-context-not-json", Some("{not json"), json!({})),
        event("3-event-not-object", Some(&contexts[1]), json!([1, 2])),
        event("4-unknown-tool", Some(&contexts[2]), json!({})),
        event(
            "5-huge-string",
            Some(&contexts[0]),
            json!({"patient_id": "x".repeat(100 * 1024)}),
        ),
        event("6-no-context", None, json!({})),
        event("7-basic-config", Some(&contexts[1]), json!({})),
    ])
    .await;

    let status = run_binary(&api, &endpoints, &idp, &tables, &dynamodb, &[]).await;
    assert!(
        !status.success(),
        "it ends when the Runtime API fails, as on Lambda"
    );

    let replies = replies(&api).await;
    let reply = |id: &str| {
        let (p, body) = replies
            .iter()
            .find(|(p, _)| p.contains(id))
            .unwrap_or_else(|| panic!("no reply for {id}: {replies:?}"));
        assert!(p.ends_with("/response"), "{id} answered on {p}");
        body.clone()
    };
    let list = reply("1-premium-list");
    assert_eq!(list["count"], 3, "{list}");
    assert_eq!(
        reply("2-context-not-json")["error"]["code"],
        "bad_client_context"
    );
    assert_eq!(
        reply("3-event-not-object")["error"]["code"],
        "invalid_arguments"
    );
    assert_eq!(reply("4-unknown-tool")["error"]["code"], "unknown_tool");
    assert_eq!(reply("5-huge-string")["error"]["code"], "invalid_arguments");
    assert_eq!(reply("6-no-context")["error"]["code"], "missing_tool_name");
    assert_eq!(reply("7-basic-config")["clinic"]["clinic_id"], "clinic-a");
    assert_eq!(replies.len(), 7);
}

/// Runs the real binary, configured only through its environment as on Lambda (plus `extra`),
/// against the Runtime API `api` until it exits (after the last event, the API answers 410).
async fn run_binary(
    api: &wiremock::MockServer,
    endpoints: &Endpoints,
    idp: &wiremock::MockServer,
    tables: &testkit::dynamo::LocalTables,
    dynamodb: &str,
    extra: &[(&str, &str)],
) -> std::process::ExitStatus {
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let registry = testkit::dynamo::create_demo_registry(endpoints, "bin")
        .await
        .expect("registry");
    let audit_group = testkit::audit_group::create(endpoints, "bin")
        .await
        .expect("audit log group");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tool-target"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address().to_string())
        .env("AWS_REGION", testkit::STANDIN_REGION)
        .env("AWS_ACCESS_KEY_ID", "standin")
        .env("AWS_SECRET_ACCESS_KEY", "standin")
        .env("AWS_ENDPOINT_URL_STS", &endpoints.moto_url)
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", &endpoints.moto_url)
        .env("TENANTRY_AUDIT_LOG_GROUP", &audit_group)
        .env("TENANTRY_TOKEN_ISSUER", ISSUER)
        .env("TENANTRY_TOKEN_AUDIENCE", AUDIENCE)
        .env("TENANTRY_JWKS_URL", test_issuer::jwks_url(idp))
        .env("TENANTRY_CREDENTIALS_SOURCE", "sts")
        .env(
            "TENANTRY_TVM_ROLE_ARN",
            "arn:aws:iam::123456789012:role/tenantry-tvm",
        )
        .env("TENANTRY_PATIENT_TABLE", &tables.patient_table)
        .env("TENANTRY_CLINIC_TABLE", &tables.clinic_table)
        .env("TENANTRY_REGISTRY_TABLE", &registry)
        .env("TENANTRY_PAGE_TOKEN_KEY", key)
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the tool-target binary");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the binary did not finish the sequence within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// On AWS every DynamoDB call is TLS. Calls of different tenants (each with its own
/// credentials, so its own SDK client) must still share connections: one handshake, not one
/// per call. DynamoDB is reached through a TLS front that counts connections (its TEST-ONLY
/// certificate trusted through `SSL_CERT_FILE`, as the platform's roots are read).
#[tokio::test]
async fn calls_of_every_tenant_share_one_connection_pool_over_tls() {
    let endpoints = testkit::endpoints_or_panic();
    let dynamodb = endpoints.dynamodb_url.clone().expect("dynalite url");
    let upstream = dynamodb.trim_start_matches("http://").to_owned();
    let tls = emulators::tls_proxy::TlsProxy::start(&upstream)
        .await
        .expect("TLS front");
    let tables = testkit::dynamo::create_and_load(&endpoints, "bin-tls")
        .await
        .expect("tables");
    let idp = test_issuer::jwks_server().await;
    let tenants = [
        gateway_context("patient_context", "premium", "hospital-x"),
        gateway_context("patient_context", "premium", "hospital-y"),
        gateway_context("clinic_config", "basic", "clinic-a"),
        gateway_context("clinic_config", "basic", "clinic-b"),
    ];
    const CALLS: usize = 24;
    let api = runtime_api(
        (0..CALLS)
            .map(|i| event(&format!("call-{i:02}"), Some(&tenants[i % 4]), json!({})))
            .collect(),
    )
    .await;
    let certificate = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../dev/emulators/fixtures/tls/localhost.crt"
    );
    run_binary(
        &api,
        &endpoints,
        &idp,
        &tables,
        &tls.url(),
        &[("SSL_CERT_FILE", certificate)],
    )
    .await;

    let replies = replies(&api).await;
    assert_eq!(replies.len(), CALLS);
    for (path, body) in &replies {
        assert!(
            path.ends_with("/response") && body.get("error").is_none(),
            "{path}: {body}"
        );
    }
    // Each call reads DynamoDB at least once (patient_context twice), with one of four tenants'
    // credentials; sequential calls reuse one kept-alive connection.
    let connections = tls.connections();
    assert!(
        connections <= 2,
        "{connections} TLS connections for {CALLS} calls: the SDK clients do not share a pool"
    );
}
