//! Property tests: derived names are injective over (tier, clinic, user) and match the AWS
//! patterns (AgentCore Memory actorId / namespace / sessionId from the bedrock-agentcore
//! service model, STS RoleSessionName and session tags).
//!
//! Injectivity is shown two ways: where a name is meant to be decodable, decoding it gives the
//! components back (a left inverse implies injectivity); and over batches drawn from tiny
//! alphabets, where near-collisions (`a-b` + `c` vs `a` + `b-c`) are frequent, distinct inputs
//! never share a name.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use proptest::prelude::*;
use regex::Regex;
use tenant_context::{
    ClinicId, MemorySessionId, Role, RuntimeSessionId, TenantContext, TierCatalog, UserKey,
};

// Transcribed from the service models (a literal `-` escaped for Rust's regex syntax).
static ACTOR_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9][a-zA-Z0-9\-_/]*(?::[a-zA-Z0-9\-_/]+)*[a-zA-Z0-9\-_/]*$").unwrap()
});
static NAMESPACE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9/*][a-zA-Z0-9\-_/*]*(?::[a-zA-Z0-9\-_/*]+)*[a-zA-Z0-9\-_/*]*$").unwrap()
});
static MEMORY_SESSION_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$").unwrap());
static ROLE_SESSION_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_+=,.@\-]{2,64}$").unwrap());
static TAG_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").unwrap());

/// Tier names chosen to be prefixes of one another, cloned from the shipped basic tier.
const TIERS: [&str; 5] = ["basic", "basicx", "b", "premium", "p2"];

static CATALOG: LazyLock<TierCatalog> = LazyLock::new(|| {
    let mut v: serde_json::Value =
        serde_json::from_str(tenant_context::EMBEDDED_TIER_FILE).unwrap();
    let basic = v["tiers"]["basic"].clone();
    for t in TIERS {
        v["tiers"][t] = basic.clone();
        v["tiers"][t]["gateway_target"] = format!("{t}-tools").into();
    }
    TierCatalog::from_json(&v.to_string()).unwrap()
});

fn ctx(tier: &str, clinic: &str, user: &str) -> TenantContext {
    TenantContext::new(
        CATALOG.tier(tier).unwrap(),
        ClinicId::parse(clinic).unwrap(),
        UserKey::parse(user).unwrap(),
        Role::parse("clinician").unwrap(),
    )
}

fn tier() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&TIERS[..])
}

/// Clinic ids: realistic ones, maximum-length ones, and tiny-alphabet ones that collide easily.
fn clinic() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,3}",
        "[a-z0-9]{1,15}(-[a-z0-9]{1,15}){2}",
        "[ab]{1,2}(-[ab]{1,2}){0,2}",
    ]
    .prop_filter("at most 48 characters", |c| c.len() <= 48)
}

fn user() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        "[A-Za-z0-9][A-Za-z0-9-]{0,127}",
        "[a1][a1-]{0,3}",
    ]
}

fn triple() -> impl Strategy<Value = (&'static str, String, String)> {
    (tier(), clinic(), user())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn actor_id_decodes_back_and_matches_the_pattern((t, c, u) in triple()) {
        let id = ctx(t, &c, &u).actor_id();
        let s = id.as_str();
        prop_assert!(ACTOR_ID.is_match(s) && (1..=255).contains(&s.len()), "{s}");
        let parts: Vec<&str> = s.split('/').collect();
        prop_assert_eq!(parts, vec![t, c.as_str(), u.as_str()]);
    }

    #[test]
    fn namespaces_match_the_pattern_and_contain_the_actor((t, c, u) in triple(), sid in "[A-Za-z0-9][A-Za-z0-9_-]{32,200}") {
        let cx = ctx(t, &c, &u);
        let session = MemorySessionId::from_runtime(&RuntimeSessionId::parse(&sid).unwrap());
        for (_, tier) in tenant_context::TierCatalog::embedded().unwrap().iter() {
            for strategy in &tier.memory.strategies {
                let ns = cx.memory_namespace(strategy, Some(&session)).unwrap();
                prop_assert!(NAMESPACE.is_match(&ns) && ns.len() <= 1024, "{ns}");
                let actor_segment = format!("/{}", cx.actor_id());
                prop_assert!(ns.contains(&actor_segment), "{}", ns);
            }
        }
    }

    #[test]
    fn s3_prefix_decodes_back((t, c, u) in triple()) {
        let p = ctx(t, &c, &u).s3_prefix();
        let (tier_part, rest) = p.split_once('/').unwrap();
        prop_assert_eq!(tier_part.strip_suffix("-tier"), Some(t));
        prop_assert_eq!(rest, format!("{c}/"));
    }

    #[test]
    fn role_session_name_is_valid_and_decodes_when_plain((t, c, u) in triple()) {
        let name = ctx(t, &c, &u).role_session_name();
        prop_assert!(ROLE_SESSION_NAME.is_match(&name), "{name}");
        if name.contains('@') {
            // hashed form: used only when the plain form would not fit
            prop_assert!(t.len() + c.len() + u.len() + 2 > 64);
            prop_assert!(c.starts_with(name.split('@').next().unwrap()));
        } else {
            let parts: Vec<&str> = name.split('.').collect();
            prop_assert_eq!(parts, vec![t, c.as_str(), u.as_str()]);
        }
    }

    #[test]
    fn session_tags_and_headers_carry_the_exact_components((t, c, u) in triple()) {
        let cx = ctx(t, &c, &u);
        let tags = cx.session_tags();
        prop_assert_eq!(tags.map(|(_, v)| v.to_owned()), [t.to_owned(), c.clone(), u.clone()]);
        for (k, v) in tags {
            prop_assert!((1..=128).contains(&k.len()) && v.len() <= 256 && TAG_VALUE.is_match(v));
        }
        let headers = cx.tenant_headers();
        prop_assert_eq!(&headers[0].1, t);
        prop_assert_eq!(&headers[1].1, &c);
        prop_assert_eq!(&headers[2].1, &cx.s3_prefix());
    }

    /// Batches over tiny alphabets: whenever two inputs differ, their names differ.
    #[test]
    fn no_two_tenants_share_a_name(batch in prop::collection::vec(
        (tier(), "[ab]{1,2}(-[ab]{1,2}){0,2}", "[a1][a1-]{0,3}"), 64..128)) {
        let distinct: HashSet<_> = batch.iter().cloned().collect();
        let names = |f: &dyn Fn(&TenantContext) -> String| -> HashMap<String, (&'static str, String, String)> {
            distinct.iter().map(|(t, c, u)| (f(&ctx(t, c, u)), (*t, c.clone(), u.clone()))).collect()
        };
        prop_assert_eq!(names(&|x| x.actor_id().to_string()).len(), distinct.len());
        prop_assert_eq!(names(&|x| x.role_session_name()).len(), distinct.len());
        let tenants: HashSet<_> = distinct.iter().map(|(t, c, _)| (*t, c.clone())).collect();
        prop_assert_eq!(names(&|x| x.s3_prefix()).len(), tenants.len());
    }

    #[test]
    fn memory_session_ids_are_valid_and_distinct(ids in prop::collection::hash_set(
        prop_oneof!["[A-Za-z0-9][A-Za-z0-9_-]{32,120}", "[a_-]{33,40}".prop_map(|s| format!("a{s}"))], 32..64)) {
        let mapped: HashSet<String> = ids.iter().map(|raw| {
            let m = MemorySessionId::from_runtime(&RuntimeSessionId::parse(raw).unwrap()).to_string();
            assert!(MEMORY_SESSION_ID.is_match(&m) && m.len() <= 100, "{m}");
            m
        }).collect();
        prop_assert_eq!(mapped.len(), ids.len());
    }
}

#[test]
fn long_identities_get_the_hashed_session_name() {
    let c = "a".repeat(48);
    let u = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let n1 = ctx("premium", &c, u).role_session_name();
    let n2 = ctx("premium", &c, "0f8fad5b-d9cb-469f-a165-70867728950f").role_session_name();
    assert!(n1.contains('@') && ROLE_SESSION_NAME.is_match(&n1), "{n1}");
    assert_ne!(n1, n2);
}

#[test]
fn the_published_samples_scheme_would_collide_and_ours_does_not() {
    // f"{tier}-{clinic}-{user}": ("basic", "a-b", "c") and ("basic", "a", "b-c") collide.
    let (x, y) = (ctx("basic", "a-b", "c"), ctx("basic", "a", "b-c"));
    assert_eq!(
        format!("{}-{}-{}", x.tier(), x.clinic_id(), x.user()),
        format!("{}-{}-{}", y.tier(), y.clinic_id(), y.user())
    );
    assert_ne!(x.actor_id(), y.actor_id());
    assert_ne!(x.role_session_name(), y.role_session_name());
}
