//! The token vending machine (TVM).
//!
//! Vends nothing without a verified Cognito ID token: the token is verified with tenant-context
//! (RS256, issuer, audience, expiry, token_use), the tenant context derived from it names the
//! STS session (role session name and transitive session tags Tier, ClinicId, UserId), and the
//! TVM role's policies grant data and memory access only through those tags. The caller never
//! states the tenant.

mod config;
mod error;
mod handler;

pub use config::{AllowedScopes, Config, ConfigError, Deps, ENV_ALLOWED_SCOPES};
pub use error::VendError;
pub use handler::{handle, vend};
