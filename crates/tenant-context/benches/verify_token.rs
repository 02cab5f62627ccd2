//! Token verification with a warm JWKS cache, beside the bare jsonwebtoken decode (same key,
//! same token, same validation rules) as a baseline, in one run: the ratio is the cost of
//! the tenant-context layer (header pinning, key lookup, claims -> TenantContext). A token seen
//! for the first time is verified in full; the same token again is remembered (`KEEP_VERIFIED`).
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

    // More distinct tokens than the verifier remembers, taken in turn: each is verified in full
    // (and its arrival evicts another, as in a full cache).
    let fresh: Vec<String> = (0..1500)
        .map(|i| {
            let mut claims = support::id_claims();
            claims["jti"] = format!("bench-{i}").into();
            support::sign(&claims)
        })
        .collect();
    let mut next = 0usize;

    let mut group = c.benchmark_group("verify_id_token");
    group.bench_function(
        "tenant_context::TokenVerifier::verify, a token seen for the first time (warm JWKS cache)",
        |b| {
            b.iter(|| {
                next = (next + 1) % fresh.len();
                rt.block_on(verifier.verify(black_box(&fresh[next])))
                    .expect("verifies")
            })
        },
    );
    group.bench_function(
        "tenant_context::TokenVerifier::verify, the same token again (remembered)",
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
