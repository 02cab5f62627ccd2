//! Any bytes as the identity provider's JWKS document: read without a panic; only RSA
//! signing keys with a key id are kept.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tenant_context::fuzzing::jwks_keys(data);
});
