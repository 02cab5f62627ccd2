//! The tenant-authorizer Lambda: configuration and clients once, then the runtime loop.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use tenant_authorizer::config::Config;
use tenant_authorizer::registry::{AwsDirectory, CachedDirectory};
use tenant_authorizer::{Deps, handle};
use tenant_context::{TierCatalog, TokenVerifier};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::logging::init_json();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = shared_https::sdk::load().await;
    let verifier = TokenVerifier::new(config.verifier, TierCatalog::embedded()?)?;
    if let Err(e) = verifier.prefetch_keys().await {
        tracing::warn!(error = %e, "JWKS prefetch failed; will retry on first request");
    }
    let deps = Deps {
        verifier,
        directory: CachedDirectory::new(
            AwsDirectory {
                registry: tenant_registry::TenantRegistry::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    config.registry_table,
                ),
                apigw: aws_sdk_apigateway::Client::new(&sdk),
            },
            config.registry_ttl,
        ),
    };
    run(service_fn(|event: LambdaEvent<Value>| handle(event, &deps))).await
}
