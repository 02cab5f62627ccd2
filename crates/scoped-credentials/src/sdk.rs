//! The AWS SDK configuration of a process: one HTTP client, so one connection pool, for every
//! SDK client built from it, tenant-scoped ones included.
//!
//! Why: an `SdkConfig` that names no HTTP client makes each service client build its own
//! default one, each with its own pool. The tool target builds a DynamoDB client per call (the
//! credentials are the caller's tenant's), so every call opened a new connection and paid a
//! full TLS handshake. With one shared client, credentials stay per SDK client while
//! connections are reused across calls and tenants (a connection carries no identity: every
//! request is signed with its own client's credentials).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The HTTPS client the SDK would pick by default (hyper 1, rustls with aws-lc, the platform's
/// roots, which honour `SSL_CERT_FILE`), built once.
pub fn shared_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https()
}

/// The environment's SDK configuration (Region, credentials, endpoint overrides) with one
/// shared HTTP client.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared_http_client())
        .load()
        .await
}
