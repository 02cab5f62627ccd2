//! The pre-token Lambda: configuration and the DynamoDB client once, then the runtime loop.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use pre_token::{Config, handle};
use serde_json::Value;
use tenant_registry::TenantRegistry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::logging::init_json();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = shared_https::sdk::load().await;
    let registry = TenantRegistry::new(aws_sdk_dynamodb::Client::new(&sdk), config.registry_table);
    run(service_fn(|event: LambdaEvent<Value>| {
        handle(event.payload, &registry)
    }))
    .await
}
