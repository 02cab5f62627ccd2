//! Any JSON object as verified claims: a tenant context only when every claim is present and
//! valid (no default tenant, tier, user or role), and then exactly those claims.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tenant_context::{TenantContext, TierCatalog};

static CATALOG: LazyLock<TierCatalog> =
    LazyLock::new(|| TierCatalog::embedded().expect("tier file"));

fuzz_target!(|data: &[u8]| {
    let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return;
    };
    if let Ok(ctx) = TenantContext::from_claims(&claims, &CATALOG) {
        let claim = |k: &str| claims.get(k).and_then(Value::as_str);
        assert_eq!(claim("custom:tier"), Some(ctx.tier().as_str()));
        assert_eq!(claim("custom:clinic_id"), Some(ctx.clinic_id().as_str()));
        assert_eq!(claim("sub"), Some(ctx.user().as_str()));
        assert_eq!(claim("custom:role"), Some(ctx.role().as_str()));
    }
});
