//! Credential issuers: the port (`CredentialIssuer`) and its two AWS implementations, STS
//! directly (`StsIssuer`, used inside the token-vending function and by deployments that let
//! a function assume the TVM role itself) or through the token-vending function
//! (`VendingFunctionIssuer`). Which one runs is one configuration switch (`IssuerConfig`).

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::types::Tag;
use tenant_context::TenantContext;

use crate::credentials::{Scope, ScopedCredentials, Secret};
use crate::error::Error;
use crate::wire::{VendRequest, VendResponse, WireTenant};

/// STS DurationSeconds accepted for vended credentials (STS allows 900-43200; tenants get at
/// most an hour).
pub const DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=3600;
pub const DEFAULT_DURATION: Duration = Duration::from_secs(900);

/// One request for credentials: a verified tenant user and, for the vending-function path, the
/// ID token that proves it (the function verifies it again; it trusts no caller).
#[derive(Clone, Copy)]
pub struct IssueRequest<'a> {
    pub id_token: &'a str,
    pub tenant: &'a TenantContext,
    pub scope: Scope,
}

/// The port the cache and the SDK provider depend on.
pub trait CredentialIssuer: Send + Sync {
    fn issue(
        &self,
        req: IssueRequest<'_>,
    ) -> impl Future<Output = Result<ScopedCredentials, Error>> + Send;
}

/// Checks a requested duration against `DURATION_RANGE`.
pub fn check_duration(seconds: u64) -> Result<Duration, Error> {
    env_config::check_seconds(ENV_DURATION, seconds, DURATION_RANGE).map_err(duration_error)
}

/// `TENANTRY_CREDENTIALS_DURATION_SECS`: 900 to 3600 whole seconds, default 900.
pub fn duration_from(get: &impl Fn(&str) -> Option<String>) -> Result<Duration, Error> {
    env_config::seconds(get, ENV_DURATION, DEFAULT_DURATION, DURATION_RANGE).map_err(duration_error)
}

fn duration_error(e: env_config::ConfigError) -> Error {
    Error::Config {
        field: "duration",
        reason: e.to_string(),
    }
}

/// Calls STS AssumeRole on the TVM role with the tenant's session tags.
#[derive(Debug, Clone)]
pub struct StsIssuer {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    duration: Duration,
}

impl StsIssuer {
    pub fn new(
        sts: aws_sdk_sts::Client,
        role_arn: impl Into<String>,
        duration: Duration,
    ) -> Result<Self, Error> {
        let role_arn = role_arn.into();
        if !role_arn.starts_with("arn:") || !role_arn.contains(":role/") {
            return Err(Error::Config {
                field: "role_arn",
                reason: "must be an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)"
                    .into(),
            });
        }
        check_duration(duration.as_secs())?;
        Ok(Self {
            sts,
            role_arn,
            duration,
        })
    }

    /// AssumeRole for a tenant user. The caller must have verified the tenant (the
    /// token-vending handler does, with tenant-context); the TVM role's trust policy admits
    /// only the vending function's role, and its permissions apply only through these tags.
    pub async fn assume_role(
        &self,
        tenant: &TenantContext,
        scope: Scope,
    ) -> Result<ScopedCredentials, Error> {
        let session_name = tenant.role_session_name();
        let mut req = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&session_name)
            // In range by construction (DURATION_RANGE), so the cast cannot truncate.
            .duration_seconds(self.duration.as_secs() as i32)
            // Every session is narrowed to one service: there is no unscoped request.
            .policy(scope.session_policy());
        for (key, value) in tenant.session_tags() {
            let tag = Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| Error::Sts {
                    retryable: false,
                    source: Box::new(e),
                })?;
            req = req.tags(tag).transitive_tag_keys(key);
        }
        let out = req.send().await.map_err(sts_error)?;
        let c = out.credentials().ok_or(Error::Incomplete("Credentials"))?;
        let expiration =
            SystemTime::try_from(*c.expiration()).map_err(|_| Error::Incomplete("Expiration"))?;
        Ok(ScopedCredentials {
            access_key_id: non_empty(c.access_key_id(), "AccessKeyId")?.to_owned(),
            secret_access_key: Secret::new(non_empty(c.secret_access_key(), "SecretAccessKey")?),
            session_token: Secret::new(non_empty(c.session_token(), "SessionToken")?),
            expiration,
            tenant: tenant.clone(),
            role_session_name: session_name,
        })
    }
}

impl CredentialIssuer for StsIssuer {
    fn issue(
        &self,
        req: IssueRequest<'_>,
    ) -> impl Future<Output = Result<ScopedCredentials, Error>> + Send {
        self.assume_role(req.tenant, req.scope)
    }
}

fn non_empty<'a>(value: &'a str, field: &'static str) -> Result<&'a str, Error> {
    if value.is_empty() {
        Err(Error::Incomplete(field))
    } else {
        Ok(value)
    }
}

/// Throttling, server-side faults and transport failures are worth a retry; a refusal
/// (AccessDenied, a malformed policy, a disabled Region) is not.
fn sts_error<E, R>(e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let retryable = match &e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default();
            code.contains("Throttl") || code == "ServiceUnavailable" || code == "InternalFailure"
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    Error::Sts {
        retryable,
        source: Box::new(e),
    }
}

/// Asks the token-vending function for credentials, by Lambda Invoke.
#[derive(Debug, Clone)]
pub struct VendingFunctionIssuer {
    lambda: aws_sdk_lambda::Client,
    function: String,
}

impl VendingFunctionIssuer {
    pub fn new(lambda: aws_sdk_lambda::Client, function: impl Into<String>) -> Self {
        Self {
            lambda,
            function: function.into(),
        }
    }

    pub async fn vend(&self, req: IssueRequest<'_>) -> Result<ScopedCredentials, Error> {
        let payload = serde_json::to_vec(&VendRequest {
            id_token: req.id_token.to_owned(),
            scope: req.scope,
        })
        .map_err(Error::VendingReply)?;
        let out = match self
            .lambda
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(payload))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                // The real Invoke API reports a function error as HTTP 200 with
                // X-Amz-Function-Error (handled below). cargo-lambda's local emulator answers
                // HTTP 500 with the same error body instead; read that body too, so the
                // function's typed refusal reaches the caller either way.
                if let Some(refusal) = e
                    .raw_response()
                    .and_then(|r| r.body().bytes())
                    .and_then(function_error)
                {
                    return Err(refusal);
                }
                return Err(Error::VendingInvoke {
                    source: Box::new(e),
                });
            }
        };
        let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        if out.function_error().is_some() {
            return Err(function_error(body).unwrap_or_else(|| Error::Vending {
                error_type: "Unhandled".into(),
                message: "the function failed without a readable error".into(),
                retryable: true,
            }));
        }
        let reply: VendResponse = serde_json::from_slice(body).map_err(Error::VendingReply)?;
        from_vend_response(reply, req.tenant)
    }
}

impl CredentialIssuer for VendingFunctionIssuer {
    fn issue(
        &self,
        req: IssueRequest<'_>,
    ) -> impl Future<Output = Result<ScopedCredentials, Error>> + Send {
        self.vend(req)
    }
}

/// A Lambda error body (`{"errorType", "errorMessage"}`) as a refusal; `Retryable.*` types
/// are the function's way of saying a retry may succeed.
fn function_error(body: &[u8]) -> Option<Error> {
    #[derive(serde::Deserialize)]
    struct LambdaError {
        #[serde(rename = "errorType")]
        error_type: String,
        #[serde(rename = "errorMessage", default)]
        error_message: String,
    }
    let err: LambdaError = serde_json::from_slice(body).ok()?;
    Some(Error::Vending {
        retryable: err.error_type.starts_with("Retryable"),
        error_type: err.error_type,
        message: err.error_message,
    })
}

/// Turns the function's reply into credentials, refusing a reply for another tenant and a
/// reply with any part missing.
pub fn from_vend_response(
    reply: VendResponse,
    expected: &TenantContext,
) -> Result<ScopedCredentials, Error> {
    if reply.tenant != WireTenant::of(expected) {
        return Err(Error::TenantMismatch);
    }
    let c = reply.credentials;
    Ok(ScopedCredentials {
        access_key_id: non_empty(&c.access_key_id, "access_key_id")?.to_owned(),
        secret_access_key: Secret::new(non_empty(&c.secret_access_key, "secret_access_key")?),
        session_token: Secret::new(non_empty(&c.session_token, "session_token")?),
        expiration: UNIX_EPOCH + Duration::from_secs(c.expiration_epoch_seconds),
        tenant: expected.clone(),
        role_session_name: reply.role_session_name,
    })
}

/// Where scoped credentials come from: the deployment's choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerConfig {
    /// Assume the TVM role directly (this function's role must be trusted by it).
    Sts {
        role_arn: String,
        duration: Duration,
    },
    /// Invoke the token-vending function.
    VendingFunction { function: String },
}

pub const ENV_SOURCE: &str = "TENANTRY_CREDENTIALS_SOURCE";
pub const ENV_ROLE_ARN: &str = "TENANTRY_TVM_ROLE_ARN";
pub const ENV_FUNCTION: &str = "TENANTRY_TVM_FUNCTION";
pub const ENV_DURATION: &str = "TENANTRY_CREDENTIALS_DURATION_SECS";

impl IssuerConfig {
    /// `TENANTRY_CREDENTIALS_SOURCE` = `sts` (with `TENANTRY_TVM_ROLE_ARN` and optional
    /// `TENANTRY_CREDENTIALS_DURATION_SECS`, 900-3600, default 900) or `vending-function`
    /// (with `TENANTRY_TVM_FUNCTION`, a function name or ARN). No default source.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let missing = |field, var: &str| Error::Config {
            field,
            reason: format!("set {var}"),
        };
        match get(ENV_SOURCE).as_deref() {
            Some("sts") => {
                let role_arn =
                    get(ENV_ROLE_ARN).ok_or_else(|| missing("role_arn", ENV_ROLE_ARN))?;
                let duration = duration_from(&get)?;
                Ok(Self::Sts { role_arn, duration })
            }
            Some("vending-function") => Ok(Self::VendingFunction {
                function: get(ENV_FUNCTION).ok_or_else(|| missing("function", ENV_FUNCTION))?,
            }),
            _ => Err(Error::Config {
                field: "source",
                reason: format!("set {ENV_SOURCE} to `sts` or `vending-function`"),
            }),
        }
    }
}

/// The configured issuer.
#[derive(Debug, Clone)]
pub enum Issuer {
    Sts(StsIssuer),
    VendingFunction(VendingFunctionIssuer),
}

impl Issuer {
    /// Builds the configured issuer from a shared SDK configuration (built once at init).
    pub fn from_config(config: &IssuerConfig, sdk: &aws_types::SdkConfig) -> Result<Self, Error> {
        Ok(match config {
            IssuerConfig::Sts { role_arn, duration } => Issuer::Sts(StsIssuer::new(
                aws_sdk_sts::Client::new(sdk),
                role_arn,
                *duration,
            )?),
            IssuerConfig::VendingFunction { function } => Issuer::VendingFunction(
                VendingFunctionIssuer::new(aws_sdk_lambda::Client::new(sdk), function),
            ),
        })
    }
}

impl CredentialIssuer for Issuer {
    async fn issue(&self, req: IssueRequest<'_>) -> Result<ScopedCredentials, Error> {
        match self {
            Issuer::Sts(i) => i.assume_role(req.tenant, req.scope).await,
            Issuer::VendingFunction(i) => i.vend(req).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_no_default_source() {
        assert!(matches!(
            IssuerConfig::from_lookup(|_| None),
            Err(Error::Config {
                field: "source",
                ..
            })
        ));
        let sts = |k: &str| match k {
            ENV_SOURCE => Some("sts".to_owned()),
            ENV_ROLE_ARN => Some("arn:aws:iam::123456789012:role/tvm".to_owned()),
            _ => None,
        };
        assert_eq!(
            IssuerConfig::from_lookup(sts).unwrap(),
            IssuerConfig::Sts {
                role_arn: "arn:aws:iam::123456789012:role/tvm".into(),
                duration: DEFAULT_DURATION
            }
        );
        let too_long = |k: &str| {
            if k == ENV_DURATION {
                Some("7200".to_owned())
            } else {
                sts(k)
            }
        };
        assert!(matches!(
            IssuerConfig::from_lookup(too_long),
            Err(Error::Config {
                field: "duration",
                ..
            })
        ));
        let vend = |k: &str| match k {
            ENV_SOURCE => Some("vending-function".to_owned()),
            _ => None,
        };
        assert!(matches!(
            IssuerConfig::from_lookup(vend),
            Err(Error::Config {
                field: "function",
                ..
            })
        ));
    }

    #[test]
    fn durations_outside_900_to_3600_are_refused() {
        assert!(check_duration(899).is_err());
        assert!(check_duration(900).is_ok());
        assert!(check_duration(3600).is_ok());
        assert!(check_duration(3601).is_err());
    }
}
