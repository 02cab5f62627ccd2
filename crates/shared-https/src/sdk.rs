//! The AWS SDK configuration of a process: one HTTP client trusting the shared roots.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::Roots;

/// The HTTPS client the SDK would pick by default (hyper 1, rustls with aws-lc), trusting
/// `roots` instead of reading the platform's store again.
pub fn http_client(roots: &Roots) -> SharedHttpClient {
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(roots.pem());
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                // Cannot fail in this version; were it to, the default context verifies against
                // the platform's store (a second read, never an unverified connection).
                .unwrap_or_default(),
        )
        .build_https()
}

/// The environment's SDK configuration (Region, credentials, endpoint overrides) with one
/// HTTP client for every SDK client built from it, trusting the platform's roots.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client(crate::roots()))
        .load()
        .await
}
