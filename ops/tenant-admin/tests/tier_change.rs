//! `tenant-admin change-tier` against the LOCAL STAND-INS (Cognito, API Gateway and S3 on moto,
//! the tables on dynalite, AgentCore Memory and the knowledge bases on their emulations): a
//! clinic moves whole (documents and their vectors included), is refused while the change is
//! under way (never served on either tier), finishes when an interrupted change is run again,
//! and moves back the same way.

mod support;

use emulators::memory::local_memory_id;
use support::world::*;
use support::*;
use tenant_admin::tier_change::{TierChange, change_tier};
use tenant_admin::{Plan, TenantStatus};
use tenant_context::ClinicId;
use tenant_registry::NotServed;

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
    let mut cut = w.stack.clients.clone();
    cut.memory = aws_sdk_bedrockagentcore::Client::new(&nowhere());
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
    let reapplied = refused(
        &Plan::onboard(&tenant, &w.stack.targets, false).unwrap(),
        &w.stack,
    )
    .await;
    assert!(reapplied.contains("under way"), "{reapplied}");
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
    let mut cut = w.stack.clients.clone();
    cut.bedrock_agent = aws_sdk_bedrockagent::Client::new(&nowhere());
    let failed = w.change(&cut, "premium").await.unwrap_err();
    assert!(failed.to_string().contains("StartIngestionJob"), "{failed}");
    assert_eq!(w.served_on("premium").await, Err(NotServed::Closed));
    // The tenants file still says basic: re-applying it is refused before it touches the key
    // (which the change has moved to premium's plan).
    let tenant = tenants(&w.stack.tiers, w.clinic.as_str(), "basic", &w.username).remove(0);
    let reapplied = refused(
        &Plan::onboard(&tenant, &w.stack.targets, false).unwrap(),
        &w.stack,
    )
    .await;
    assert!(reapplied.contains("under way"), "{reapplied}");
    assert!(w.key_in_plan("premium").await);
    assert!(
        !w.key_in_plan("basic").await,
        "the re-apply moved the key back"
    );
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
