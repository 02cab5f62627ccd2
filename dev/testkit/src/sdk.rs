//! AWS SDK configuration pointed at the moto stand-in, and a request recorder for tests.

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_sdk_sts::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::endpoints::{Endpoints, STANDIN_REGION};

/// The SDK configuration for clients of the moto stand-in. The static credentials only
/// satisfy the signer: moto checks no signature and evaluates no IAM policy.
pub fn moto_config(endpoints: &Endpoints) -> SdkConfig {
    config_for(&endpoints.moto_url)
}

/// The same for any loopback endpoint (a closed port, a mock server).
pub fn config_for(endpoint_url: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(Region::new(STANDIN_REGION))
        .endpoint_url(endpoint_url)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "standin",
                "standin",
                None,
                None,
                "local-standins",
            )),
        )
        .build()
}

/// Records the body of every request a client sends (an SDK interceptor), so tests can count
/// upstream calls and read their exact parameters.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// Requests of a Query-protocol action (STS, IAM): bodies carrying `Action=<action>`.
    pub fn count(&self, action: &str) -> usize {
        let needle = format!("Action={action}");
        self.bodies()
            .iter()
            .filter(|b| b.split('&').any(|kv| kv == needle))
            .count()
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "testkit::Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_sts::error::BoxError> {
        let body = context
            .request()
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        if let Ok(mut bodies) = self.bodies.lock() {
            bodies.push(body);
        }
        Ok(())
    }
}

/// An STS client for `config` that reports its requests to `recorder`.
pub fn recorded_sts_client(config: &SdkConfig, recorder: &Recorder) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::config::Builder::from(config)
        .interceptor(recorder.clone())
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}
