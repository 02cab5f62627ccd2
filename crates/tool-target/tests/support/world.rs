//! The tool target's test world on the stand-ins: dynalite tables loaded with the synthetic
//! data, scoped credentials from moto STS (AssumeRole calls recorded), tokens from the shared
//! test issuer, an injected clock, and Gateway-shaped invocations.
#![allow(dead_code)] // each test crate uses a different subset

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use emulators::knowledge_base::{KnowledgeBaseEmulation, demo_knowledge_base_id, demo_sources};
use scoped_credentials::{CredentialCache, Issuer, StsIssuer};
use serde_json::{Value, json};
use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};
use testkit::Endpoints;
use testkit::sdk::{Recorder, config_for, moto_config, recorded_sts_client};
use testkit::test_issuer::{self, AUDIENCE, ISSUER};
use tool_target::data::Tables;
use tool_target::documents::{DocumentsClient, KnowledgeBases};
use tool_target::handler::{Deps, handle};
use tool_target::page_token::PageTokens;
use tool_target::runtime::Invocation;
use wiremock::MockServer;

pub const BASIC_TARGET: &str = "tenantry-basic-tools";
pub const PREMIUM_TARGET: &str = "tenantry-premium-tools";
/// A patient of clinic-b (infra/demo-patients.json).
pub const OTHER_CLINICS_PATIENT: &str = "p-2001";

pub struct World {
    pub deps: Arc<Deps>,
    /// The registry every demo clinic is active in.
    pub registry: tenant_registry::TenantRegistry,
    pub sts: Recorder,
    pub kb: KnowledgeBaseEmulation,
    pub _idp: MockServer,
    /// This world's audit trail (its own log group on moto), to read back what was recorded.
    pub audit_group: String,
}

pub fn endpoints() -> Endpoints {
    testkit::endpoints_or_panic()
}

/// `utc_hour` on 2026-11-27 (a Friday).
pub async fn world(test: &str, utc_hour: u32) -> World {
    world_with_audit(test, utc_hour, None).await
}

/// The same, its audit trail `audit` when given (an unreachable one, say).
pub async fn world_with_audit(
    test: &str,
    utc_hour: u32,
    audit: Option<audit_trail::AuditLog>,
) -> World {
    let endpoints = endpoints();
    let local = testkit::dynamo::create_and_load(&endpoints, &format!("tt-{test}"))
        .await
        .expect("tables");
    let registry = tenant_registry::TenantRegistry::new(
        testkit::dynamo::client(&endpoints).expect("dynamodb client"),
        testkit::dynamo::create_demo_registry(&endpoints, &format!("tt-{test}"))
            .await
            .expect("registry"),
    );
    let idp = test_issuer::jwks_server().await;
    let verifier = TokenVerifier::new(
        VerifierConfig::new(ISSUER, AUDIENCE, test_issuer::jwks_url(&idp)).unwrap(),
        TierCatalog::embedded().unwrap(),
    )
    .unwrap();
    let sts = Recorder::default();
    let issuer = StsIssuer::new(
        recorded_sts_client(&moto_config(&endpoints), &sts),
        "arn:aws:iam::123456789012:role/tenantry-tvm",
        Duration::from_secs(900),
    )
    .unwrap();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 27, utc_hour, 30, 0)
        .single()
        .unwrap();
    let catalog = TierCatalog::embedded().unwrap();
    let kb = KnowledgeBaseEmulation::start(demo_sources(&catalog), 0)
        .await
        .expect("knowledge base emulation");
    let knowledge_bases = KnowledgeBases(
        catalog
            .iter()
            .map(|(t, _)| (t.clone(), demo_knowledge_base_id(t.as_str())))
            .collect(),
    );
    let audit_group = testkit::audit_group::create(&endpoints, &format!("tt-{test}"))
        .await
        .expect("audit log group");
    let deps = Deps {
        audit: audit.unwrap_or_else(|| {
            audit_trail::AuditLog::new(&moto_config(&endpoints), audit_group.clone())
        }),
        documents: DocumentsClient::lazy(&config_for(&kb.endpoint())),
        knowledge_bases,
        web_search: tool_target::web_search::WebSearch::Offline,
        clients: Default::default(),
        verifier,
        credentials: Arc::new(CredentialCache::new(Issuer::Sts(issuer))),
        sdk: config_for(endpoints.dynamodb_url.as_deref().expect("dynalite url")),
        tables: Tables {
            patient_table: local.patient_table,
            clinic_table: local.clinic_table,
        },
        page_tokens: PageTokens::new(b"test-only page token key, 32+ bytes!".to_vec()).unwrap(),
        clock: Arc::new(move || now),
        // Read afresh on every call: a test's suspension counts at once.
        served: tenant_registry::ServedTenants::new(registry.clone(), Duration::ZERO),
    };
    World {
        registry,
        deps: Arc::new(deps),
        sts,
        kb,
        _idp: idp,
        audit_group,
    }
}

pub fn token(tier: &str, clinic: &str) -> String {
    test_issuer::id_token(tier, clinic)
}

/// The propagated headers a well-behaved agent sends for this tenant.
pub fn headers(tier: &str, clinic: &str) -> Value {
    json!({
        "X-Id-Token": token(tier, clinic),
        "X-Tier": tier,
        "X-Clinic-ID": clinic,
        "X-S3-Prefix": format!("{tier}-tier/{clinic}/"),
    })
}

pub fn invocation(tool: &str, headers: &Value, args: &Value) -> Invocation {
    Invocation {
        request_id: "test".into(),
        deadline_ms: None,
        trace_id: None,
        client_context: Some(
            json!({"custom": {
                "bedrockAgentCoreToolName": tool,
                "bedrockAgentCoreGatewayId": "gw-test",
                "bedrockAgentCorePropagatedHeaders": headers,
            }})
            .to_string(),
        ),
        payload: serde_json::to_vec(args).unwrap().into(),
    }
}

impl World {
    pub async fn call(&self, tool: &str, headers: &Value, args: Value) -> Value {
        handle(invocation(tool, headers, &args), self.deps.clone()).await
    }

    pub async fn basic(&self, tool: &str, args: Value) -> Value {
        self.call(
            &format!("{BASIC_TARGET}___{tool}"),
            &headers("basic", "clinic-a"),
            args,
        )
        .await
    }
}

pub fn code(reply: &Value) -> &str {
    reply["error"]["code"].as_str().unwrap_or("<no error>")
}

pub fn patient_ids(reply: &Value) -> Vec<String> {
    reply["patients"]
        .as_array()
        .unwrap_or_else(|| panic!("no patients in {reply}"))
        .iter()
        .map(|p| p["patient_id"].as_str().unwrap().to_owned())
        .collect()
}
