//! One HTTPS set-up per process: the platform's root certificates, read once and given to
//! every TLS client of the process, and one AWS SDK HTTP client (one connection pool) for
//! every SDK client.
//!
//! Why the roots are read here: the AWS SDK's HTTP client and every reqwest client each read
//! and parse the platform's certificate store when they are built, and `rustls-native-certs`
//! reads the bundle file and every file of the certificate directory (on Debian, 146 files
//! besides the bundle). A function that verifies ID tokens (reqwest, for the JWKS) and calls
//! AWS (the SDK) read the store twice before its first call: measured as most of what its
//! cold start spent before the first request. `SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured
//! as before (`rustls-native-certs` reads them).
//!
//! Why one SDK HTTP client: an `SdkConfig` that names no HTTP client makes each service
//! client build its own, each with its own pool. The tool target builds a DynamoDB client per
//! tenant user (the credentials are the caller's tenant's), so every call opened a new
//! connection and paid a full TLS handshake. With one shared client, credentials stay per SDK
//! client while connections are reused across calls and tenants (a connection carries no
//! identity: every request is signed with its own client's credentials).

mod roots;
#[cfg(feature = "aws-sdk")]
pub mod sdk;

pub use roots::{Error, Roots, platform_reads, roots};
