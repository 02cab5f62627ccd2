//! Any bytes as the event API Gateway hands the tenant authorizer (TOKEN or REQUEST shape):
//! a typed refusal, never a panic and never an Allow. The JWKS URL leads nowhere (a closed
//! port), so no token verifies, and the registry must never be consulted for an unverified
//! caller.
#![no_main]

use std::future::Future;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tenant_authorizer::registry::{Directory, TenantRecord};
use tenant_authorizer::{AuthError, Deps, authorize};
use tenant_context::{ClinicId, TierCatalog, TokenVerifier, VerifierConfig};

struct Unconsulted;

impl Directory for Unconsulted {
    fn lookup(
        &self,
        clinic: &ClinicId,
    ) -> impl Future<Output = Result<Option<TenantRecord>, AuthError>> + Send {
        let clinic = clinic.to_string();
        async move { panic!("the registry was consulted for {clinic} without a verified token") }
    }
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

static DEPS: LazyLock<Deps<Unconsulted>> = LazyLock::new(|| {
    let config = VerifierConfig::new(
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Fuzz",
        "fuzz-client",
        "http://127.0.0.1:9/jwks.json",
    )
    .expect("config");
    Deps {
        verifier: TokenVerifier::new(config, TierCatalog::embedded().expect("tier file"))
            .expect("verifier"),
        directory: Unconsulted,
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let verdict = RUNTIME.block_on(authorize(&event, &DEPS));
    assert!(verdict.is_err(), "no key is known, yet the authorizer answered a policy");
});
