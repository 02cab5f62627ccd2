//! Tenant-scoped AWS credentials.
//!
//! Every data and memory call of a tenant runs on credentials whose STS session is tagged with
//! that tenant (Tier, ClinicId, UserId); the TVM role's policies grant access only through those
//! tags. This crate holds the token-vending function's wire types, the issuers (STS directly or
//! the vending function, one configuration switch), a per-user single-flight cache, and an AWS
//! SDK credentials provider so scoped clients refresh by themselves.

mod cache;
mod credentials;
mod error;
mod issuer;
mod provider;
pub mod wire;

pub use cache::{Clock, CredentialCache, DEFAULT_REFRESH_MARGIN};
pub use credentials::{Scope, ScopedCredentials, Secret};
pub use error::Error;
pub use issuer::{
    CredentialIssuer, DEFAULT_DURATION, DURATION_RANGE, ENV_DURATION, ENV_FUNCTION, ENV_ROLE_ARN,
    ENV_SOURCE, IssueRequest, Issuer, IssuerConfig, StsIssuer, VendingFunctionIssuer,
    check_duration, duration_from, from_vend_response,
};
pub use provider::TenantCredentialsProvider;
