//! `ServedTenants` on dynalite: active on its own tier only, a suspension seen within one cache
//! period, and an unreadable registry refused (never "served").

use std::time::Duration;

use tenant_context::{ClinicId, TierName};
use tenant_registry::{NotServed, ServedTenants, TenantRegistry, TenantStatus};
use testkit::dynamo::{RegistryEntry, create_registry};

fn id(s: &str) -> ClinicId {
    ClinicId::parse(s).unwrap()
}

fn tier(s: &str) -> TierName {
    tenant_context::TierCatalog::embedded()
        .unwrap()
        .tier(s)
        .unwrap()
}

#[tokio::test]
async fn a_clinic_is_served_only_while_active_on_its_tier() {
    let endpoints = testkit::endpoints_or_panic();
    let entry = |clinic_id, status| RegistryEntry {
        clinic_id,
        tier: "basic",
        status,
        api_key_id: "key",
    };
    let table = create_registry(
        &endpoints,
        "served",
        &[
            entry("clinic-a", TenantStatus::Active),
            entry("clinic-d", TenantStatus::Suspended),
            // Being moved between tiers: served on neither.
            entry("clinic-t", TenantStatus::ChangingTier),
        ],
    )
    .await
    .unwrap();
    let ddb = testkit::dynamo::client(&endpoints).unwrap();
    let registry = TenantRegistry::new(ddb.clone(), &table);
    let fresh = ServedTenants::new(registry.clone(), Duration::ZERO);
    assert_eq!(fresh.check(&id("clinic-a"), &tier("basic")).await, Ok(()));
    for (clinic, t) in [
        ("clinic-d", "basic"),
        ("clinic-t", "basic"),
        ("clinic-t", "premium"),
        ("clinic-a", "premium"),
        ("clinic-z", "basic"),
    ] {
        assert_eq!(
            fresh.check(&id(clinic), &tier(t)).await,
            Err(NotServed::Closed),
            "{clinic} on {t}"
        );
    }

    // Cached: a suspension is seen once the entry is older than the cache period.
    let cached = ServedTenants::new(registry.clone(), Duration::from_millis(300));
    assert_eq!(cached.check(&id("clinic-a"), &tier("basic")).await, Ok(()));
    registry
        .set_status(&id("clinic-a"), TenantStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(cached.check(&id("clinic-a"), &tier("basic")).await, Ok(()));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        cached.check(&id("clinic-a"), &tier("basic")).await,
        Err(NotServed::Closed)
    );

    // An unreadable registry: refused as unavailable.
    let missing = ServedTenants::new(
        TenantRegistry::new(ddb, format!("{table}-missing")),
        Duration::from_secs(60),
    );
    assert_eq!(
        missing.check(&id("clinic-a"), &tier("basic")).await,
        Err(NotServed::Unavailable)
    );
}
