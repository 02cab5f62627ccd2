//! The trigger against the TenantRegistry on the DynamoDB stand-in: tokens only for users of an
//! active tenant of the tier their attributes name; every other case, and an unreadable
//! registry, means no tokens.

use pre_token::{PreTokenError, handle};
use serde_json::Value;
use tenant_registry::{TenantRegistry, TenantStatus};
use testkit::dynamo::{RegistryEntry, create_registry};

const EVENT: &str = include_str!("../../../events/pre-token/sign-in-clinic-a.json");

fn event(tier: &str, clinic: &str) -> Value {
    let mut e: Value = serde_json::from_str(EVENT).unwrap();
    e["request"]["userAttributes"]["custom:tier"] = tier.into();
    e["request"]["userAttributes"]["custom:clinic_id"] = clinic.into();
    e
}

async fn registry() -> TenantRegistry {
    let endpoints = testkit::endpoints_or_panic();
    let entry = |clinic_id, tier, status| RegistryEntry {
        clinic_id,
        tier,
        status,
        api_key_id: "key",
    };
    let table = create_registry(
        &endpoints,
        "pre-token",
        &[
            entry("clinic-a", "basic", TenantStatus::Active),
            entry("clinic-d", "basic", TenantStatus::Suspended),
            entry("hospital-x", "premium", TenantStatus::Active),
        ],
    )
    .await
    .unwrap();
    TenantRegistry::new(testkit::dynamo::client(&endpoints).unwrap(), table)
}

#[tokio::test]
async fn only_an_active_tenant_of_the_named_tier_gets_tokens() {
    let r = registry().await;
    let ok = handle(event("basic", "clinic-a"), &r).await.unwrap();
    assert_eq!(
        ok,
        event("basic", "clinic-a"),
        "the event comes back unchanged"
    );
    assert!(handle(event("premium", "hospital-x"), &r).await.is_ok());
    for (tier, clinic, why) in [
        ("basic", "clinic-d", "suspended"),
        ("basic", "clinic-zz", "not in the registry"),
        ("premium", "clinic-a", "another tier than the registry's"),
        ("basic", "hospital-x", "another tier than the registry's"),
    ] {
        assert!(
            matches!(
                handle(event(tier, clinic), &r).await,
                Err(PreTokenError::TenantNotActive)
            ),
            "{clinic} {tier}: {why}"
        );
    }
    let mut no_tenant = event("basic", "clinic-a");
    no_tenant["request"]["userAttributes"]
        .as_object_mut()
        .unwrap()
        .remove("custom:clinic_id");
    assert!(matches!(
        handle(no_tenant, &r).await,
        Err(PreTokenError::NoTenant)
    ));
}

#[tokio::test]
async fn an_unreadable_registry_means_no_tokens() {
    let endpoints = testkit::endpoints_or_panic();
    let missing = TenantRegistry::new(
        testkit::dynamo::client(&endpoints).unwrap(),
        "no-such-table",
    );
    assert!(matches!(
        handle(event("basic", "clinic-a"), &missing).await,
        Err(PreTokenError::RegistryUnavailable)
    ));
    let refused: lambda_runtime::Diagnostic = PreTokenError::TenantNotActive.into();
    assert!(
        !refused.error_message.contains("clinic"),
        "no tenant names to the client"
    );
}
