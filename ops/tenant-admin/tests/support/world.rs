//! A clinic onboarded on basic with a user, two documents of its own on basic (with their
//! sidecars) and the demo documents in each tier's bucket, AgentCore Memory and the knowledge
//! bases on their emulations: what a tier change and an offboarding work on.

use std::time::Duration;

use aws_sdk_bedrockagentcore::primitives::DateTime;
use aws_sdk_bedrockagentcore::types::{Content, Conversational, PayloadType, Role as MsgRole};
use emulators::knowledge_base::{
    IngestionEmulation, KnowledgeBaseEmulation, demo_data_source_id, demo_knowledge_base_id,
    upload_demo_documents,
};
use emulators::memory::{MemoryEmulation, definitions, local_memory_id};
use tenant_admin::documents::{SyncWait, TierDocuments};
use tenant_admin::tier_change::{TierChange, change_tier};
use tenant_admin::{AdminError, Plan};
use tenant_context::{ClinicId, TenantContext, TierCatalog, TierName};
use tenant_registry::{NotServed, ServedTenants};

use super::*;

pub struct World {
    pub stack: Stack,
    pub memory: MemoryEmulation,
    pub knowledge_bases: KnowledgeBaseEmulation,
    pub _ingestion: IngestionEmulation,
    pub s3: testkit::s3::LocalS3,
    pub clinic: ClinicId,
    pub username: String,
    pub password: String,
}

pub fn tier(name: &str) -> TierName {
    TierCatalog::embedded().unwrap().tier(name).unwrap()
}

pub const WAIT: SyncWait = SyncWait {
    timeout: Duration::from_secs(10),
    every: Duration::from_millis(10),
};

pub async fn world() -> World {
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
    pub async fn change(
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
    pub async fn objects_on(&self, t: &str) -> Vec<String> {
        let bucket = &self.stack.targets.documents[&tier(t)].bucket;
        self.s3
            .list(bucket, &format!("{t}-tier/{}/", self.clinic))
            .await
            .unwrap()
    }

    /// (tier, uri) of the clinic's documents each knowledge base holds.
    pub fn indexed(&self) -> Vec<(String, String)> {
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

    pub fn served(&self) -> ServedTenants {
        ServedTenants::new(
            self.stack
                .clients
                .registry(&self.stack.targets.registry_table),
            Duration::ZERO,
        )
    }

    pub async fn served_on(&self, t: &str) -> Result<(), NotServed> {
        self.served().check(&self.clinic, &tier(t)).await
    }

    /// One remembered turn of the clinic's user on `t`'s memory; the actor.
    pub async fn remember(&self, t: &str) -> String {
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

    pub async fn key_in_plan(&self, t: &str) -> bool {
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
