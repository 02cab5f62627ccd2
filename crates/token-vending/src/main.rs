//! The token-vending Lambda. Configuration is read and clients are built once, here; the
//! handler (`token_vending::handle`) gets them as dependencies.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use token_vending::{Config, Deps, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::logging::init_json();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = shared_https::sdk::load().await;
    let deps = Deps::new(config, &sdk)?;
    deps.warm_up().await;
    run(service_fn(|event: LambdaEvent<Value>| handle(event, &deps))).await
}
