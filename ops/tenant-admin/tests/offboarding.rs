//! `tenant-admin export` and `offboard [--purge]` against the LOCAL STAND-INS (Cognito, API
//! Gateway, S3 and CloudWatch Logs on moto, the tables on dynalite, AgentCore Memory and the
//! knowledge bases on their emulations): an export holds everything of the clinic and nothing
//! of another; a purge, interrupted and run again, erases the clinic's data (every document
//! version, every actor's memory, its vectors) and nothing of another, keeps its audit trail
//! and usage rows, and leaves a tombstone that onboarding refuses without --reuse-id.

mod support;

use std::collections::HashMap;

use aws_sdk_bedrockagentcore::primitives::DateTime;
use aws_sdk_bedrockagentcore::types::{Content, Conversational, PayloadType, Role as MsgRole};
use aws_sdk_dynamodb::types::AttributeValue;
use emulators::memory::local_memory_id;
use support::world::*;
use support::*;
use tenant_admin::export::{Destination, export};
use tenant_admin::{AdminError, Plan, TenantStatus};
use tenant_context::TenantContext;
use tenant_registry::NotServed;

/// A user of the clinic that no longer exists in the pool, but whose memory does.
const GONE_USER: &str = "0b6a1f5e-1111-4222-8333-944455556666";
/// A user of another clinic, whose memory must survive.
const NEIGHBOUR: (&str, &str) = ("clinic-a", "7c1d2e3f-aaaa-4bbb-8ccc-9dddeeeeffff");

struct Seeded {
    w: World,
    /// The actors of the clinic with memory (its user's and a departed user's).
    actors: Vec<String>,
    neighbour_actor: String,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

async fn remember(w: &World, clinic: &str, sub: &str, text: &str) -> String {
    let who = TenantContext::parse(&w.stack.tiers, "basic", clinic, sub, "clinician").unwrap();
    w.stack
        .clients
        .memory
        .create_event()
        .memory_id(local_memory_id("basic"))
        .actor_id(who.actor_id().as_str())
        .session_id("session-two-0000000000000000000000000002")
        .event_timestamp(DateTime::from_secs(1_790_000_100))
        .payload(PayloadType::Conversational(
            Conversational::builder()
                .role(MsgRole::User)
                .content(Content::Text(text.into()))
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    who.actor_id().as_str().to_owned()
}

/// The world, plus: the basic bucket versioned with an overwritten and a deleted document of
/// the clinic (old versions and a delete marker), three patient rows, a usage row, two audit
/// events, memory of two of its actors and of a neighbour.
async fn seeded() -> Seeded {
    let w = world().await;
    let basic = w.stack.targets.documents[&tier("basic")].bucket.clone();
    let s3 = &w.stack.clients.s3;
    s3.put_bucket_versioning()
        .bucket(&basic)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let prefix = format!("basic-tier/{}/notes/", w.clinic);
    w.s3.put(
        &basic,
        &format!("{prefix}visit-1.md"),
        b"HbA1c follow-up, corrected".to_vec(),
    )
    .await
    .unwrap();
    w.s3.put(&basic, &format!("{prefix}draft.md"), b"a draft".to_vec())
        .await
        .unwrap();
    s3.delete_object()
        .bucket(&basic)
        .key(format!("{prefix}draft.md"))
        .send()
        .await
        .unwrap();

    let ddb = &w.stack.clients.dynamodb;
    for p in ["p-1", "p-2", "p-3"] {
        ddb.put_item()
            .table_name(&w.stack.targets.patient_table)
            .item("clinic_id", s(w.clinic.as_str()))
            .item("patient_id", s(p))
            .item("name", s(&format!("Patient {p}")))
            .send()
            .await
            .unwrap();
    }
    ddb.put_item()
        .table_name(&w.stack.targets.usage_table)
        .item("clinic_id", s(w.clinic.as_str()))
        .item("day", s("2026-12-01"))
        .item("input_tokens", AttributeValue::N("1200".into()))
        .send()
        .await
        .unwrap();
    testkit::audit_group::record_reads(
        &testkit::endpoints_or_panic(),
        &w.stack.targets.audit_log_group,
        &[(w.clinic.as_str(), "p-1"), ("clinic-a", "p-1001")],
    )
    .await
    .unwrap();

    let mine = w.remember("basic").await;
    let gone = remember(&w, w.clinic.as_str(), GONE_USER, "the old ward list").await;
    let neighbour_actor = remember(&w, NEIGHBOUR.0, NEIGHBOUR.1, "clinic-a's own note").await;
    Seeded {
        w,
        actors: vec![mine, gone],
        neighbour_actor,
    }
}

async fn purge(
    w: &World,
    clients: &tenant_admin::apply::Clients,
) -> Result<Vec<String>, AdminError> {
    let tenant = tenants(&w.stack.tiers, w.clinic.as_str(), "basic", &w.username).remove(0);
    let mut lines = Vec::new();
    tenant_admin::apply::apply(&Plan::purge(&tenant, &w.stack.targets), clients, &mut |l| {
        lines.push(l)
    })
    .await?;
    Ok(lines)
}

/// Every version and delete marker under `prefix` in `bucket`.
async fn versions(w: &World, bucket: &str, prefix: &str) -> usize {
    let out = w
        .stack
        .clients
        .s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.versions().len() + out.delete_markers().len()
}

async fn rows(w: &World, table: &str, clinic: &str) -> usize {
    w.stack
        .clients
        .dynamodb
        .query()
        .table_name(table)
        .key_condition_expression("clinic_id = :c")
        .expression_attribute_values(":c", s(clinic))
        .send()
        .await
        .unwrap()
        .count() as usize
}

fn read_lines(dir: &std::path::Path, path: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The export holds the clinic's rows, current documents, memory of every actor (a departed
/// user's too), usage and audit trail, and nothing of another clinic; the manifest's sums are
/// the files'; the files are its owner's only.
#[tokio::test]
async fn an_export_holds_everything_of_the_clinic_and_nothing_of_another() {
    let Seeded { w, actors, .. } = seeded().await;
    let dir = std::env::temp_dir().join(format!("tenantry-export-{}", unique()));
    let log = audit_log(&w.stack);
    let mut lines = Vec::new();
    let exported = export(
        &w.clinic,
        &w.stack.clients,
        &w.stack.targets,
        &w.stack.tiers,
        &log,
        &Destination::Folder(dir.clone()),
        &mut |l| lines.push(l),
    )
    .await
    .unwrap();
    assert!(lines.len() >= 7, "a progress line per step: {lines:?}");

    let patients = read_lines(&dir, "patients.jsonl");
    assert_eq!(patients.len(), 3);
    assert!(patients.iter().all(|p| p["clinic_id"] == w.clinic.as_str()));
    assert_eq!(read_lines(&dir, "usage.jsonl")[0]["input_tokens"], "1200");
    let audit = read_lines(&dir, "audit.jsonl");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["clinic_id"], w.clinic.as_str());

    // Current versions only (the overwritten text, not the deleted draft), sidecars too.
    let doc = std::fs::read_to_string(dir.join("documents/basic/notes/visit-1.md")).unwrap();
    assert_eq!(doc, "HbA1c follow-up, corrected");
    assert!(
        dir.join("documents/basic/notes/visit-2.md.metadata.json")
            .exists()
    );
    assert!(!dir.join("documents/basic/notes/draft.md").exists());
    assert!(!dir.join("documents/premium").exists());

    let events = read_lines(&dir, "memory/basic/events.jsonl");
    let mut exported_actors: Vec<&str> = events
        .iter()
        .filter_map(|e| e["actorId"].as_str())
        .collect();
    exported_actors.sort();
    let mut expected: Vec<&str> = actors.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(exported_actors, expected);
    assert!(
        events
            .iter()
            .any(|e| e["payload"][0]["text"] == "the old ward list")
    );
    let records = read_lines(&dir, "memory/basic/records.jsonl");
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r["namespaces"][0]
            .as_str()
            .unwrap()
            .contains(&format!("/basic/{}/", w.clinic))),
        "{records:?}"
    );
    assert!(
        !std::fs::read_to_string(dir.join("memory/basic/events.jsonl"))
            .unwrap()
            .contains("clinic-a's own note")
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "tenantry-export/1");
    assert_eq!(
        manifest["files"].as_array().unwrap().len(),
        exported.files.len()
    );
    for f in &exported.files {
        use sha2::Digest as _;
        let bytes = std::fs::read(dir.join(&f.path)).unwrap();
        assert_eq!(
            format!("{:x}", sha2::Sha256::digest(&bytes)),
            f.sha256,
            "{}",
            f.path
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join(&f.path))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{} is readable by others", f.path);
        }
    }
    assert_eq!(exported.records("patients.jsonl"), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// To an S3 prefix: the same files under it, each as the manifest (written last) says.
#[tokio::test]
async fn an_export_to_s3_lands_under_its_prefix_as_the_manifest_says() {
    let Seeded { w, .. } = seeded().await;
    let bucket = format!("exports-{}", unique());
    w.s3.create_bucket(&bucket).await.unwrap();
    let log = audit_log(&w.stack);
    let to = Destination::parse(&format!("s3://{bucket}/offboarded/{}/", w.clinic)).unwrap();
    let exported = export(
        &w.clinic,
        &w.stack.clients,
        &w.stack.targets,
        &w.stack.tiers,
        &log,
        &to,
        &mut |_| {},
    )
    .await
    .unwrap();
    let prefix = format!("offboarded/{}/", w.clinic);
    let keys = w.s3.list(&bucket, &prefix).await.unwrap();
    assert_eq!(keys.len(), exported.files.len() + 1, "{keys:?}");
    let manifest: serde_json::Value = serde_json::from_slice(
        &w.s3
            .get(&bucket, &format!("{prefix}manifest.json"))
            .await
            .unwrap(),
    )
    .unwrap();
    for f in manifest["files"].as_array().unwrap() {
        use sha2::Digest as _;
        let path = f["path"].as_str().unwrap();
        let bytes = w.s3.get(&bucket, &format!("{prefix}{path}")).await.unwrap();
        assert_eq!(
            format!("{:x}", sha2::Sha256::digest(&bytes)),
            f["sha256"].as_str().unwrap(),
            "{path}"
        );
    }
}

/// The purge stops half-way (Memory unreachable): the clinic is refused and its id is taken
/// (re-onboarding refused); run again, it finishes: nothing of the clinic is left (no document
/// version, no vector, no memory of any actor, no patient row, no user, no key, no clinic row),
/// everything of its neighbour is, the audit trail and usage rows are kept, and the registry
/// holds a tombstone. Run a third time: nothing to do, no error.
#[tokio::test]
async fn an_interrupted_purge_run_again_erases_the_clinic_and_nothing_else() {
    let Seeded {
        w,
        actors,
        neighbour_actor,
    } = seeded().await;
    let basic = w.stack.targets.documents[&tier("basic")].bucket.clone();
    let prefix = format!("basic-tier/{}/", w.clinic);
    let neighbour_docs =
        w.s3.list(&basic, "basic-tier/clinic-a/")
            .await
            .unwrap()
            .len();
    assert!(neighbour_docs > 0);
    assert!(versions(&w, &basic, &prefix).await >= 6);

    let mut cut = w.stack.clients.clone();
    cut.memory = aws_sdk_bedrockagentcore::Client::new(&nowhere());
    let failed = purge(&w, &cut).await.unwrap_err();
    assert!(failed.to_string().contains("ListActors"), "{failed}");
    let registry = w.stack.clients.registry(&w.stack.targets.registry_table);
    assert_eq!(
        registry.get(&w.clinic).await.unwrap().unwrap().status,
        TenantStatus::Offboarding
    );
    assert_eq!(w.served_on("basic").await, Err(NotServed::Closed));
    let tenant = tenants(&w.stack.tiers, w.clinic.as_str(), "basic", &w.username).remove(0);
    for reuse in [false, true] {
        let refusal = refused(
            &Plan::onboard_reusing(&tenant, &w.stack.targets, false, reuse).unwrap(),
            &w.stack,
        )
        .await;
        assert!(refusal.contains("offboarding is under way"), "{refusal}");
    }

    let lines = purge(&w, &w.stack.clients).await.unwrap();
    assert!(
        lines.iter().any(|l| l.contains("status purged")),
        "{lines:?}"
    );
    assert_eq!(versions(&w, &basic, &prefix).await, 0);
    assert_eq!(
        w.s3.list(&basic, "basic-tier/clinic-a/")
            .await
            .unwrap()
            .len(),
        neighbour_docs
    );
    assert!(
        w.indexed().is_empty(),
        "vectors of the clinic left: {:?}",
        w.indexed()
    );
    for actor in &actors {
        assert_eq!(
            w.memory.event_count(&local_memory_id("basic"), actor),
            0,
            "{actor}"
        );
    }
    assert_eq!(
        w.memory
            .event_count(&local_memory_id("basic"), &neighbour_actor),
        1
    );
    let records = w.memory.records();
    assert!(
        !records
            .iter()
            .any(|(ns, _)| ns.contains(&format!("/{}/", w.clinic))),
        "{records:?}"
    );
    assert!(records.iter().any(|(ns, _)| ns.contains(&neighbour_actor)));
    assert_eq!(
        rows(&w, &w.stack.targets.patient_table, w.clinic.as_str()).await,
        0
    );
    assert!(rows(&w, &w.stack.targets.patient_table, "clinic-a").await > 0);
    assert_eq!(
        rows(&w, &w.stack.targets.usage_table, w.clinic.as_str()).await,
        1,
        "usage is kept"
    );
    assert!(
        row(&w.stack, &w.stack.targets.clinic_table, w.clinic.as_str())
            .await
            .is_none()
    );
    let users = tenant_admin::apply::clinic_users(
        &w.stack.clients,
        &w.stack.targets.user_pool_id,
        w.clinic.as_str(),
    )
    .await
    .unwrap();
    assert!(users.is_empty(), "{users:?}");
    let key = w
        .stack
        .clients
        .apigateway
        .get_api_keys()
        .name_query(w.stack.targets.api_key_name(&tenant))
        .send()
        .await
        .unwrap();
    assert!(key.items().is_empty());
    let log = audit_log(&w.stack);
    let trail = tenant_admin::audit::read_trail(&log, &w.clinic, &Default::default(), 10)
        .await
        .unwrap();
    assert_eq!(trail.len(), 1, "the audit trail is kept");
    let tomb = registry.get(&w.clinic).await.unwrap().unwrap();
    assert_eq!(tomb.status, TenantStatus::Purged);
    assert_eq!(w.served_on("basic").await, Err(NotServed::Closed));

    purge(&w, &w.stack.clients).await.unwrap();
    assert_eq!(
        registry.get(&w.clinic).await.unwrap().unwrap().status,
        TenantStatus::Purged
    );
    // A plain offboard of the purged clinic does not make its tombstone claim data was kept.
    run(&Plan::offboard(&tenant, &w.stack.targets), &w.stack).await;
    assert_eq!(
        registry.get(&w.clinic).await.unwrap().unwrap().status,
        TenantStatus::Purged
    );
}

/// An id with no registry row (offboarded before tombstones, or a typo) is exported with what
/// the stack holds under it, and the run says it is not in the registry.
#[tokio::test]
async fn an_id_without_a_registry_row_is_exported_with_a_warning() {
    let stack = stack(None).await;
    let clinic = tenant_context::ClinicId::parse(&format!("clinic-{}", unique())).unwrap();
    stack
        .clients
        .dynamodb
        .put_item()
        .table_name(&stack.targets.patient_table)
        .item("clinic_id", s(clinic.as_str()))
        .item("patient_id", s("p-kept"))
        .send()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tenantry-export-{}", unique()));
    let log = audit_log(&stack);
    let mut targets = stack.targets.clone();
    targets.memories.clear();
    let mut lines = Vec::new();
    let exported = export(
        &clinic,
        &stack.clients,
        &targets,
        &stack.tiers,
        &log,
        &Destination::Folder(dir.clone()),
        &mut |l| lines.push(l),
    )
    .await
    .unwrap();
    assert!(lines[0].contains("is not in"), "{lines:?}");
    assert_eq!(exported.records("patients.jsonl"), 1);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("clinic.json")).unwrap()).unwrap();
    assert!(summary["registry"].is_null(), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Adversarial: a clinic id given out again after a purge (or a plain offboard). Onboarding
/// is refused before it creates anything, resuming is refused, and only --reuse-id gives the
/// id out again, onto nothing of the old clinic.
#[tokio::test]
async fn a_reused_clinic_id_after_a_purge_is_refused_without_reuse_id() {
    let Seeded { w, actors, .. } = seeded().await;
    purge(&w, &w.stack.clients).await.unwrap();
    let newcomer = format!("admin@new-{}.example", w.clinic);
    let tenant = tenants(&w.stack.tiers, w.clinic.as_str(), "basic", &newcomer).remove(0);
    let refusal = refused(
        &Plan::onboard(&tenant, &w.stack.targets, true).unwrap(),
        &w.stack,
    )
    .await;
    assert!(refusal.contains("--reuse-id"), "{refusal}");
    let keys = w
        .stack
        .clients
        .apigateway
        .get_api_keys()
        .name_query(w.stack.targets.api_key_name(&tenant))
        .send()
        .await
        .unwrap();
    assert!(
        keys.items().is_empty(),
        "a refused onboarding created a key"
    );
    assert!(
        tenant_admin::apply::find_user(&w.stack.clients, &w.stack.targets.user_pool_id, &newcomer)
            .await
            .unwrap()
            .is_none()
    );
    let resumed = set_status_result(&w, TenantStatus::Active).await;
    assert!(resumed.contains("purged"), "{resumed}");
    // Within the old users' ID token lifetime, not even --reuse-id: their tokens still verify.
    let early = refused(
        &Plan::onboard_reusing(&tenant, &w.stack.targets, true, true).unwrap(),
        &w.stack,
    )
    .await;
    assert!(early.contains("ID tokens may still verify"), "{early}");
    an_hour_later(&w).await;

    let (_, lines) = run(
        &Plan::onboard_reusing(&tenant, &w.stack.targets, true, true).unwrap(),
        &w.stack,
    )
    .await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("--reuse-id: given out again")),
        "{lines:?}"
    );
    assert_eq!(w.served_on("basic").await, Ok(()));
    let row = w
        .stack
        .clients
        .registry(&w.stack.targets.registry_table)
        .get(&w.clinic)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, TenantStatus::Active);
    assert_eq!(
        rows(&w, &w.stack.targets.patient_table, w.clinic.as_str()).await,
        0
    );
    for actor in &actors {
        assert_eq!(w.memory.event_count(&local_memory_id("basic"), actor), 0);
    }
    let attributes: HashMap<String, AttributeValue> =
        support::row(&w.stack, &w.stack.targets.registry_table, w.clinic.as_str())
            .await
            .unwrap();
    assert!(!attributes.contains_key(tenant_registry::ATTR_RETIRED_AT));
}

/// A plain offboard keeps the data and leaves an `offboarded` tombstone: the same id is
/// refused without --reuse-id (it would land on that data), and comes back onto it with it.
#[tokio::test]
async fn a_plain_offboard_keeps_the_data_and_tombstones_the_id() {
    let Seeded { w, .. } = seeded().await;
    let tenant = tenants(&w.stack.tiers, w.clinic.as_str(), "basic", &w.username).remove(0);
    run(&Plan::offboard(&tenant, &w.stack.targets), &w.stack).await;
    let registry = w.stack.clients.registry(&w.stack.targets.registry_table);
    assert_eq!(
        registry.get(&w.clinic).await.unwrap().unwrap().status,
        TenantStatus::Offboarded
    );
    assert_eq!(
        rows(&w, &w.stack.targets.patient_table, w.clinic.as_str()).await,
        3
    );
    let refusal = refused(
        &Plan::onboard(&tenant, &w.stack.targets, false).unwrap(),
        &w.stack,
    )
    .await;
    assert!(refusal.contains("kept"), "{refusal}");
    an_hour_later(&w).await;
    run(
        &Plan::onboard_reusing(&tenant, &w.stack.targets, false, true).unwrap(),
        &w.stack,
    )
    .await;
    assert_eq!(w.served_on("basic").await, Ok(()));
    assert_eq!(
        rows(&w, &w.stack.targets.patient_table, w.clinic.as_str()).await,
        3
    );
}

/// As if the tombstone were an hour old (every ID token of the old users ended).
async fn an_hour_later(w: &World) {
    w.stack
        .clients
        .dynamodb
        .update_item()
        .table_name(&w.stack.targets.registry_table)
        .key("clinic_id", s(w.clinic.as_str()))
        .update_expression("SET retired_at = :t")
        .expression_attribute_values(
            ":t",
            s(&(chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339()),
        )
        .send()
        .await
        .unwrap();
}

async fn set_status_result(w: &World, status: TenantStatus) -> String {
    tenant_admin::apply::set_tenant_status(
        &w.stack.clients,
        &w.stack.targets.registry_table,
        &w.stack.targets.user_pool_id,
        &w.clinic,
        status,
    )
    .await
    .map(|n| format!("ok: {n}"))
    .unwrap_or_else(|e| e.to_string())
}

/// The dry run of a purge: access goes first (status offboarding, key, users), the erasures
/// name every tier's memory and bucket, the tombstone is last and says what is kept; a plain
/// offboard erases nothing.
#[test]
fn a_purge_plan_refuses_first_erases_every_tier_and_tombstones_last() {
    let tiers = tenant_context::TierCatalog::embedded().unwrap();
    let targets = tenant_admin::Targets::placeholders("tenantry", &tiers);
    let tenant = tenants(&tiers, "clinic-b", "basic", "dr@clinic-b.example").remove(0);
    let purge = Plan::purge(&tenant, &targets).describe();
    assert!(purge[0].contains("status offboarding"), "{purge:#?}");
    assert!(purge[1].contains("delete API key"), "{purge:#?}");
    assert!(purge[2].contains("disable every user"), "{purge:#?}");
    let last = purge.last().unwrap();
    assert!(last.contains("tombstone, status purged"), "{last}");
    assert!(
        last.contains("audit trail and the usage rows are kept"),
        "{last}"
    );
    let all = purge.join("\n");
    for needed in [
        "<BasicMemoryId>",
        "<PremiumMemoryId>",
        "every version",
        "<BasicDocumentsBucket>",
        "<PremiumDocumentsBucket>",
        "tenantry-PatientMetadata: delete every row",
        "delete every user of clinic-b",
    ] {
        assert!(all.contains(needed), "{needed}: {all}");
    }
    let plain = Plan::offboard(&tenant, &targets).describe().join("\n");
    assert!(
        !plain.contains("erase") && !plain.contains("every version"),
        "{plain}"
    );
    assert!(plain.contains("status offboarded"), "{plain}");
}
