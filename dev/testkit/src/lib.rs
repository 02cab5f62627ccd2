//! TOOLING, never deployed: what the tests (and the local tooling) share to talk to the LOCAL
//! STAND-INS of AWS services, moto (Cognito, STS, SSM, S3, API Gateway behind its validating
//! front) and dynalite (DynamoDB), bound to 127.0.0.1 by `scripts/standins.sh`: their endpoints
//! and SDK configuration, a token issuer of our own with test-only keys, a log capture, the
//! demo pool, tables, tenants and documents, the adversarial report, AWS's sample events, and a
//! mock Runtime API.
//!
//! Nothing here is evidence about real AWS behaviour beyond what the stand-ins reproduce: moto
//! evaluates no IAM policy and does not enforce Cognito app-client WriteAttributes.

pub mod adversarial;
pub mod audit_group;
pub mod aws_samples;
pub mod cognito;
pub mod dynamo;
mod endpoints;
mod error;
pub mod logs;
pub mod runtime_api;
pub mod s3;
pub mod sdk;
pub mod sns;
pub mod tenants;
pub mod test_issuer;

pub use endpoints::{ENV_DYNAMODB_URL, ENV_MOTO_URL, Endpoints, STANDIN_REGION};
pub use error::{Error, chain as error_chain};

/// The stand-ins' endpoints, or a panic that says how to start them: what every test that
/// needs them calls first.
pub fn endpoints_or_panic() -> Endpoints {
    Endpoints::from_env().unwrap_or_else(|e| {
        panic!(
            "{e}\n(the local stand-ins are not running: `scripts/standins.sh start && source .tools/run/env`, or run scripts/test.sh, which starts them)"
        )
    })
}
