//! `tenant-admin change-tier` against the LOCAL STAND-INS (Cognito, API Gateway and S3 on moto,
//! the tables on dynalite, AgentCore Memory and the knowledge bases on their emulations): a
//! clinic moves whole (documents and their vectors included), is refused while the change is
//! under way (never served on either tier), finishes when an interrupted change is run again,
//! and moves back the same way.

mod support;

use std::time::Duration;

use aws_sdk_bedrockagentcore::primitives::DateTime;
use aws_sdk_bedrockagentcore::types::{Content, Conversational, PayloadType, Role as MsgRole};
use emulators::knowledge_base::{
    IngestionEmulation, KnowledgeBaseEmulation, demo_data_source_id, demo_knowledge_base_id,
    upload_demo_documents,
};
use emulators::memory::{MemoryEmulation, definitions, local_memory_id};
use support::*;
use tenant_admin::documents::{SyncWait, TierDocuments};
use tenant_admin::tier_change::{TierChange, change_tier};
use tenant_admin::{AdminError, Plan, TenantStatus};
use tenant_context::{ClinicId, TenantContext, TierCatalog, TierName};
use tenant_registry::{NotServed, ServedTenants};

struct World {
    stack: Stack,
    memory: MemoryEmulation,
    knowledge_bases: KnowledgeBaseEmulation,
    _ingestion: IngestionEmulation,
    s3: testkit::s3::LocalS3,
    clinic: ClinicId,
    username: String,
    password: String,
}

fn tier(name: &str) -> TierName {
    TierCatalog::embedded().unwrap().tier(name).unwrap()
}

const WAIT: SyncWait = SyncWait {
    timeout: Duration::from_secs(10),
    every: Duration::from_millis(10),
};

async fn world() -> World {
    let catalog = TierCatalog::embedded().unwrap();
    let memory = MemoryEmulation::start(definitions(&catalog, local_memory_id), 0)
        .await
        .unwrap();
    let clinic = format!("clinic-{}", unique());
    // Each tier's bucket with the demo documents, and two of this clinic's own on basic.
    let suffix = unique();
    let bucket = move |tier: &str| format!("docs-{suffix}-{tier}");
    let s3 = testkit::s3::LocalS3::new(&testkit::endpoints_or_panic());
    let sources = upload_demo_documents(&s3, &catalog, bucket.clone())
        .await
        .unwrap();
    for (name, text) in [
        ("visit-1.md", "HbA1c follow-up"),
        ("visit-2.md", "blood pressure review"),
    ] {
        let key = format!("basic-tier/{clinic}/notes/{name}");
        s3.put(&bucket("basic"), &key, text.as_bytes().to_vec())
            .await
            .unwrap();
        let sidecar = serde_json::json!({"metadataAttributes": {
            "clinic_id": clinic, "tier": "basic", "document_type": "notes"}});
        s3.put(
            &bucket("basic"),
            &format!("{key}.metadata.json"),
            sidecar.to_string().into_bytes(),
        )
        .await
        .unwrap();
    }
    let knowledge_bases = KnowledgeBaseEmulation::start(sources, 0).await.unwrap();
    let ingestion = IngestionEmulation::start(
        &knowledge_bases,
        catalog
            .iter()
            .map(|(t, _)| {
                (
                    demo_knowledge_base_id(t.as_str()),
                    demo_data_source_id(t.as_str()),
                )
            })
            .collect(),
        0,
    )
    .await
    .unwrap();
    let documents = catalog
        .iter()
        .map(|(t, _)| {
            (
                t.clone(),
                TierDocuments {
                    bucket: bucket(t.as_str()),
                    knowledge_base_id: demo_knowledge_base_id(t.as_str()),
                    data_source_id: demo_data_source_id(t.as_str()),
                },
            )
        })
        .collect();
    let stack = stack_with(
        Some(&memory.endpoint()),
        Some(&ingestion.endpoint()),
        documents,
    )
    .await;
    let username = format!("dr@{clinic}.example");
    let tenant = tenants(&stack.tiers, &clinic, "basic", &username).remove(0);
    let (outcome, _) = run(
        &Plan::onboard(&tenant, &stack.targets, true).unwrap(),
        &stack,
    )
    .await;
    World {
        stack,
        memory,
        knowledge_bases,
        _ingestion: ingestion,
        s3,
        clinic: ClinicId::parse(&clinic).unwrap(),
        username,
        password: outcome.test_credentials.expect("a test password").1,
    }
}

impl World {
    async fn change(
        &self,
        clients: &tenant_admin::apply::Clients,
        to: &str,
    ) -> Result<Vec<String>, AdminError> {
        let mut lines = Vec::new();
        change_tier(
            &TierChange {
                clinic: self.clinic.clone(),
                to: tier(to),
            },
            clients,
            &self.stack.targets,
            &self.stack.tiers,
            WAIT,
            &mut |l| lines.push(l),
        )
        .await?;
        Ok(lines)
    }

    /// The clinic's objects in `t`'s bucket.
    async fn objects_on(&self, t: &str) -> Vec<String> {
        let bucket = &self.stack.targets.documents[&tier(t)].bucket;
        self.s3
            .list(bucket, &format!("{t}-tier/{}/", self.clinic))
            .await
            .unwrap()
    }

    /// (tier, uri) of the clinic's documents each knowledge base holds.
    fn indexed(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for t in ["basic", "premium"] {
            for (uri, meta) in self.knowledge_bases.indexed(&demo_knowledge_base_id(t)) {
                let of_clinic = meta
                    .iter()
                    .any(|(k, v)| k == "clinic_id" && v == self.clinic.as_str());
                if of_clinic {
                    let doc_tier = meta
                        .iter()
                        .find(|(k, _)| k == "tier")
                        .map(|(_, v)| v.clone());
                    assert_eq!(
                        doc_tier.as_deref(),
                        Some(t),
                        "{uri} in {t}'s knowledge base"
                    );
                    out.push((t.to_owned(), uri));
                }
            }
        }
        out
    }

    fn served(&self) -> ServedTenants {
        ServedTenants::new(
            self.stack
                .clients
                .registry(&self.stack.targets.registry_table),
            Duration::ZERO,
        )
    }

    async fn served_on(&self, t: &str) -> Result<(), NotServed> {
        self.served().check(&self.clinic, &tier(t)).await
    }

    /// One remembered turn of the clinic's user on `t`'s memory; the actor.
    async fn remember(&self, t: &str) -> String {
        let sub = tenant_admin::apply::find_user(
            &self.stack.clients,
            &self.stack.targets.user_pool_id,
            &self.username,
        )
        .await
        .unwrap()
        .and_then(|u| u.sub)
        .unwrap();
        let who = TenantContext::parse(
            &self.stack.tiers,
            t,
            self.clinic.as_str(),
            &sub,
            "clinician",
        )
        .unwrap();
        self.stack
            .clients
            .memory
            .create_event()
            .memory_id(local_memory_id(t))
            .actor_id(who.actor_id().as_str())
            .session_id("session-one-0000000000000000000000000001")
            .event_timestamp(DateTime::from_secs(1_790_000_000))
            .payload(PayloadType::Conversational(
                Conversational::builder()
                    .role(MsgRole::User)
                    .content(Content::Text("the MRI room moved".into()))
                    .build()
                    .unwrap(),
            ))
            .send()
            .await
            .unwrap();
        who.actor_id().as_str().to_owned()
    }

    async fn key_in_plan(&self, t: &str) -> bool {
        let row = self
            .stack
            .clients
            .registry(&self.stack.targets.registry_table)
            .get(&self.clinic)
            .await
            .unwrap()
            .unwrap();
        self.stack
            .clients
            .apigateway
            .get_usage_plan_key()
            .usage_plan_id(&self.stack.targets.usage_plans[&tier(t)])
            .key_id(&row.api_key_id)
            .send()
            .await
            .is_ok()
    }
}

/// basic -> premium: the registry, the users' tier, the key's plan and the clinic row all
/// name premium; the basic memory is erased; a basic token's tier is refused and a new
/// sign-in carries premium; the clinic's own budget stays. Run again: nothing to do. Back
/// to basic the same way.
#[tokio::test]
async fn a_clinic_moves_whole_and_back() {
    let w = world().await;
    let actor = w.remember("basic").await;
    let registry = w.stack.clients.registry(&w.stack.targets.registry_table);
    let budget = tenant_context::TokenBudget {
        daily_tokens: 1234,
        monthly_tokens: None,
    };
    registry.set_budget(&w.clinic, Some(budget)).await.unwrap();
    assert_eq!(w.served_on("basic").await, Ok(()));

    let lines = w.change(&w.stack.clients, "premium").await.unwrap();
    assert!(lines.iter().any(|l| l.contains("under way")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("1 event(s) and 1 long-term record(s) of 1 user(s) erased")),
        "{lines:?}"
    );
    assert_eq!(w.memory.event_count(&local_memory_id("basic"), &actor), 0);
    let row = registry.get(&w.clinic).await.unwrap().unwrap();
    assert_eq!(
        (row.tier.as_str(), row.status, row.tier_change_to),
        ("premium", TenantStatus::Active, None)
    );
    assert_eq!(
        row.token_budget,
        Some(budget),
        "the clinic's own budget stays"
    );
    assert!(w.key_in_plan("premium").await && !w.key_in_plan("basic").await);
    assert_eq!(w.served_on("basic").await, Err(NotServed::Closed));
    assert_eq!(w.served_on("premium").await, Ok(()));
    let token = w
        .stack
        .pool
        .sign_in(&w.username, &w.password)
        .await
        .unwrap();
    assert_eq!(payload(&token)["custom:tier"], "premium");
    let [clinic_tier] = texts(
        &w.stack,
        &w.stack.targets.clinic_table,
        w.clinic.as_str(),
        ["tier"],
    )
    .await;
    assert_eq!(clinic_tier, "premium");
    // The documents and their vectors moved: none left on basic, both on premium with
    // sidecars naming premium.
    assert!(w.objects_on("basic").await.is_empty());
    assert_eq!(
        w.objects_on("premium").await.len(),
        4,
        "two documents, two sidecars"
    );
    let indexed = w.indexed();
    assert_eq!(indexed.len(), 2, "{indexed:?}");
    assert!(indexed.iter().all(|(t, _)| t == "premium"), "{indexed:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("2 document(s) and 2 sidecar(s) moved")),
        "{lines:?}"
    );
    assert!(
        lines.iter().filter(|l| l.contains("complete (")).count() == 2,
        "{lines:?}"
    );

    let again = w.change(&w.stack.clients, "premium").await.unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].contains("already on premium"), "{again:?}");

    w.change(&w.stack.clients, "basic").await.unwrap();
    assert_eq!(w.served_on("basic").await, Ok(()));
    assert!(w.key_in_plan("basic").await && !w.key_in_plan("premium").await);
    assert!(w.objects_on("premium").await.is_empty());
    assert!(w.indexed().iter().all(|(t, _)| t == "basic"));
    assert_eq!(w.indexed().len(), 2);
}

/// The change stops half-way (Memory unreachable): the clinic is served on neither tier, and
/// nothing but the same change may touch its row (no resume, no re-onboarding, no other
/// target); run again, it finishes.
#[tokio::test]
async fn an_interrupted_change_refuses_the_clinic_until_it_is_run_again() {
    let w = world().await;
    w.remember("basic").await;
    let mut cut = tenant_admin::apply::Clients::new(&testkit::sdk::config_for(
        &testkit::endpoints_or_panic().moto_url,
    ));
    cut.cognito = w.stack.clients.cognito.clone();
    cut.dynamodb = w.stack.clients.dynamodb.clone();
    cut.apigateway = w.stack.clients.apigateway.clone();
    cut.memory =
        aws_sdk_bedrockagentcore::Client::new(&testkit::sdk::config_for("http://127.0.0.1:9"));
    let failed = w.change(&cut, "premium").await.unwrap_err();
    assert!(failed.to_string().contains("run again"), "{failed}");

    assert_eq!(w.served_on("basic").await, Err(NotServed::Closed));
    assert_eq!(w.served_on("premium").await, Err(NotServed::Closed));
    let registry = w.stack.clients.registry(&w.stack.targets.registry_table);
    let row = registry.get(&w.clinic).await.unwrap().unwrap();
    assert_eq!(row.status, TenantStatus::ChangingTier);
    let resumed = registry
        .set_status(&w.clinic, TenantStatus::Active)
        .await
        .unwrap_err();
    assert!(resumed.to_string().contains("under way"), "{resumed}");
    let tenant = tenants(&w.stack.tiers, w.clinic.as_str(), "basic", &w.username).remove(0);
    let reapplied = tenant_admin::apply::apply(
        &Plan::onboard(&tenant, &w.stack.targets, false).unwrap(),
        &w.stack.clients,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(reapplied.to_string().contains("under way"), "{reapplied}");
    let back = w.change(&w.stack.clients, "basic").await.unwrap_err();
    assert!(
        back.to_string()
            .contains("a change to premium is under way"),
        "{back}"
    );

    w.change(&w.stack.clients, "premium").await.unwrap();
    assert_eq!(w.served_on("premium").await, Ok(()));
    assert_eq!(w.served_on("basic").await, Err(NotServed::Closed));
    assert_eq!(w.objects_on("premium").await.len(), 4);
}

/// The knowledge bases' sync unreachable after the documents moved: the clinic stays refused;
/// run again, nothing is lost (the documents are found where they went) and it finishes.
#[tokio::test]
async fn a_change_stopped_at_the_sync_finishes_with_every_document() {
    let w = world().await;
    let mut cut = tenant_admin::apply::Clients::new(&testkit::sdk::config_for(
        &testkit::endpoints_or_panic().moto_url,
    ));
    cut.cognito = w.stack.clients.cognito.clone();
    cut.dynamodb = w.stack.clients.dynamodb.clone();
    cut.apigateway = w.stack.clients.apigateway.clone();
    cut.memory = w.stack.clients.memory.clone();
    cut.s3 = w.stack.clients.s3.clone();
    cut.bedrock_agent =
        aws_sdk_bedrockagent::Client::new(&testkit::sdk::config_for("http://127.0.0.1:9"));
    let failed = w.change(&cut, "premium").await.unwrap_err();
    assert!(failed.to_string().contains("StartIngestionJob"), "{failed}");
    assert_eq!(w.served_on("premium").await, Err(NotServed::Closed));
    assert_eq!(w.objects_on("premium").await.len(), 4);
    let lines = w.change(&w.stack.clients, "premium").await.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("0 document(s) and 0 sidecar(s) moved")),
        "{lines:?}"
    );
    assert_eq!(w.served_on("premium").await, Ok(()));
    let indexed = w.indexed();
    assert_eq!(indexed.len(), 2, "{indexed:?}");
    assert!(indexed.iter().all(|(t, _)| t == "premium"), "{indexed:?}");
}

/// A suspended clinic, or one not onboarded, is not moved.
#[tokio::test]
async fn a_suspended_or_unknown_clinic_is_not_moved() {
    let w = world().await;
    set_status(&w.stack, &w.clinic, TenantStatus::Suspended).await;
    let e = w.change(&w.stack.clients, "premium").await.unwrap_err();
    assert!(e.to_string().contains("suspended"), "{e}");
    let unknown = TierChange {
        clinic: ClinicId::parse("clinic-never-onboarded").unwrap(),
        to: tier("premium"),
    };
    let e = change_tier(
        &unknown,
        &w.stack.clients,
        &w.stack.targets,
        &w.stack.tiers,
        WAIT,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("onboard it first"), "{e}");
}
