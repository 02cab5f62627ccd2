//! Any string as an ID token: refused with a typed error, never a panic, never a context. The
//! JWKS URL leads nowhere (a closed port), so a token that passes every check before the key
//! lookup is refused as unverifiable; the claims after the signature are the `claims` target's.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tenant_context::{TierCatalog, TokenVerifier, VerifierConfig};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

static VERIFIER: LazyLock<TokenVerifier> = LazyLock::new(|| {
    let config = VerifierConfig::new(
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Fuzz",
        "fuzz-client",
        "http://127.0.0.1:9/jwks.json",
    )
    .expect("config");
    TokenVerifier::new(config, TierCatalog::embedded().expect("tier file")).expect("verifier")
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let verdict = RUNTIME.block_on(VERIFIER.verify(token));
    assert!(verdict.is_err(), "no key is known, yet a token was accepted");
});
