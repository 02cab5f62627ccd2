//! Token verification with a warm JWKS cache, beside the bare jsonwebtoken decode (same key,
//! same token, same validation rules) as a baseline, in one run: the ratio is the cost of
//! the tenant-context layer (header pinning, cache lookup, claims -> TenantContext).
//!
//! Run: cargo bench -p tenant-context --bench verify_token

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(support::jwks_server());
    let verifier = support::verifier(support::config_for(&server.uri()));
    let token = support::sign(&support::id_claims());
    rt.block_on(verifier.verify(&token))
        .expect("warm the JWKS cache");

    let key = DecodingKey::from_rsa_pem(support::SIGNING_PUBLIC_KEY).expect("public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[support::ISSUER]);
    validation.set_audience(&[support::AUDIENCE]);
    validation.validate_nbf = true;

    let mut group = c.benchmark_group("verify_id_token");
    group.bench_function(
        "tenant_context::TokenVerifier::verify (warm JWKS cache)",
        |b| {
            b.iter(|| {
                rt.block_on(verifier.verify(black_box(&token)))
                    .expect("verifies")
            })
        },
    );
    group.bench_function("baseline: jsonwebtoken::decode only", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Map<String, Value>>(black_box(&token), &key, &validation)
                .expect("decodes")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
