//! The pre-token Lambda: configuration and the DynamoDB client once, then the runtime loop.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use pre_token::{DynamoRegistry, ENV_REGISTRY_TABLE, PreTokenError, handle};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::logging::init_json();
    let table = std::env::var(ENV_REGISTRY_TABLE)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or(PreTokenError::Config(ENV_REGISTRY_TABLE))?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let registry = DynamoRegistry {
        ddb: aws_sdk_dynamodb::Client::new(&sdk),
        table,
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        handle(event.payload, &registry)
    }))
    .await
}
