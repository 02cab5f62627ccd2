//! The parts of a deployed stack tenant-admin touches, on the LOCAL STAND-INS (API Gateway and
//! Cognito on moto, tables on dynalite, AgentCore Memory on its emulation when a test needs it).
#![allow(dead_code)] // each test binary uses its own part

pub mod world;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use tenant_admin::apply::{Clients, apply};
use tenant_admin::{Plan, Targets, load_tenants};
use tenant_context::TierCatalog;
use testkit::cognito::LocalPool;
use testkit::sdk::config_for;

pub struct Stack {
    pub clients: Clients,
    pub targets: Targets,
    pub pool: LocalPool,
    pub tiers: TierCatalog,
}

pub fn unique() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{n:x}")
}

/// The parts of a deployed stack onboarding touches, on the stand-ins.
pub async fn stack(memory_url: Option<&str>) -> Stack {
    stack_with(memory_url, None, BTreeMap::new()).await
}

/// The same, with the knowledge bases' ingestion at `ingestion_url` and each tier's documents
/// where `documents` says (a tier change moves them).
pub async fn stack_with(
    memory_url: Option<&str>,
    ingestion_url: Option<&str>,
    documents: BTreeMap<tenant_context::TierName, tenant_admin::documents::TierDocuments>,
) -> Stack {
    let endpoints = testkit::endpoints_or_panic();
    let moto = config_for(&endpoints.moto_url);
    let dynamo_url = endpoints
        .dynamodb_url
        .clone()
        .expect("TENANTRY_DYNAMODB_URL (start the stand-ins)");
    let clients = Clients {
        apigateway: aws_sdk_apigateway::Client::new(&moto),
        dynamodb: aws_sdk_dynamodb::Client::new(&config_for(&dynamo_url)),
        cognito: aws_sdk_cognitoidentityprovider::Client::new(&moto),
        // Onboarding reaches no memory: without the emulation, an address nothing listens on.
        memory: aws_sdk_bedrockagentcore::Client::new(&config_for(
            memory_url.unwrap_or("http://127.0.0.1:9"),
        )),
        // moto serves buckets by path, not by host name.
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&moto)
                .force_path_style(true)
                .build(),
        ),
        bedrock_agent: aws_sdk_bedrockagent::Client::new(&config_for(
            ingestion_url.unwrap_or("http://127.0.0.1:9"),
        )),
    };
    let tiers = TierCatalog::embedded().unwrap();
    let mut usage_plans = BTreeMap::new();
    for (tier, _) in tiers.iter() {
        let plan = clients
            .apigateway
            .create_usage_plan()
            .name(format!("test-{}-{tier}", unique()))
            .send()
            .await
            .expect("usage plan");
        usage_plans.insert(tier.clone(), plan.id().unwrap().to_owned());
    }
    let registry = testkit::dynamo::create_registry(&endpoints, "admin-test", &[])
        .await
        .expect("registry");
    let tables = testkit::dynamo::create_and_load(&endpoints, "admin-test")
        .await
        .expect("tables");
    let pool = LocalPool::create(&endpoints, &format!("admin-test-{}", unique()))
        .await
        .expect("pool");
    let targets = Targets {
        name_prefix: format!("t{}", unique()),
        user_pool_id: pool.pool_id.clone(),
        registry_table: registry,
        clinic_table: tables.clinic_table,
        patient_table: tables.patient_table,
        usage_table: testkit::dynamo::create_usage_table(&endpoints, "admin-test")
            .await
            .expect("usage table"),
        audit_log_group: testkit::audit_group::create(&endpoints, "admin-test")
            .await
            .expect("audit log group"),
        audit_retention_days: 30,
        usage_plans,
        memories: tiers
            .iter()
            .map(|(t, _)| (t.clone(), emulators::memory::local_memory_id(t.as_str())))
            .collect(),
        documents,
        test_stack: true,
    };
    Stack {
        clients,
        targets,
        pool,
        tiers,
    }
}

pub fn tenants(
    tiers: &TierCatalog,
    clinic: &str,
    tier: &str,
    username: &str,
) -> Vec<tenant_admin::Tenant> {
    let file = serde_json::json!({ "clinics": [{
        "clinic_id": clinic, "tier": tier, "name": "Test Clinic", "timezone": "Europe/Paris",
        "user": { "username": username, "role": "clinician" }
    }]});
    load_tenants(&file.to_string(), tiers).expect("valid tenant")
}

/// Runs `plan`, which must be refused; the refusal as the operator reads it.
pub async fn refused(plan: &Plan, stack: &Stack) -> String {
    apply(plan, &stack.clients, &mut |_| {})
        .await
        .expect_err("refused")
        .to_string()
}

/// A configuration that reaches nothing: a service cut in the middle of a run.
pub fn nowhere() -> aws_config::SdkConfig {
    config_for("http://127.0.0.1:9")
}

/// The stack's audit trail (CloudWatch Logs on moto).
pub fn audit_log(stack: &Stack) -> audit_trail::AuditLog {
    audit_trail::AuditLog::new(
        &testkit::sdk::moto_config(&testkit::endpoints_or_panic()),
        stack.targets.audit_log_group.clone(),
    )
}

pub async fn run(plan: &Plan, stack: &Stack) -> (tenant_admin::apply::Outcome, Vec<String>) {
    let mut lines = Vec::new();
    let outcome = apply(plan, &stack.clients, &mut |l| lines.push(l))
        .await
        .expect("apply");
    (outcome, lines)
}

/// Suspends or resumes a clinic as the operator does; how many users it changed.
pub async fn set_status(
    stack: &Stack,
    clinic: &tenant_context::ClinicId,
    status: tenant_admin::TenantStatus,
) -> usize {
    let targets = &stack.targets;
    let (table, pool) = (&targets.registry_table, &targets.user_pool_id);
    tenant_admin::apply::set_tenant_status(&stack.clients, table, pool, clinic, status)
        .await
        .unwrap()
}

/// The token's claims (signature checked elsewhere: here only what the pool put in).
pub fn payload(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

pub async fn row(
    stack: &Stack,
    table: &str,
    clinic: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    stack
        .clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key("clinic_id", AttributeValue::S(clinic.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
}

pub fn text(item: &std::collections::HashMap<String, AttributeValue>, key: &str) -> String {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// The text attributes `keys` of `clinic`'s row in `table` (the row must exist).
pub async fn texts<const N: usize>(
    stack: &Stack,
    table: &str,
    clinic: &str,
    keys: [&str; N],
) -> [String; N] {
    let item = row(stack, table, clinic).await.expect("the clinic's row");
    keys.map(|k| text(&item, k))
}
