//! Test support for tenant-context: the shared test issuer (testkit::test_issuer) plus a
//! verifier configured for it.
#![allow(dead_code)] // each test crate uses a different subset

use std::time::Duration;

use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};
pub use testkit::test_issuer::*;

pub fn config_for(server_uri: &str) -> VerifierConfig {
    VerifierConfig::new(ISSUER, AUDIENCE, format!("{server_uri}{JWKS_PATH}"))
        .expect("valid config")
        .with_jwks_min_refresh_interval(Duration::from_secs(60))
        .with_jwks_timeout(Duration::from_secs(2))
}

pub fn verifier(config: VerifierConfig) -> TokenVerifier {
    TokenVerifier::new(config, TierCatalog::embedded().expect("tier file")).expect("verifier")
}
