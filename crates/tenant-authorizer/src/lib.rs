//! API Gateway REST Lambda authorizer for Tenantry.
//!
//! Verifies the caller's Cognito ID token, looks the tenant up in the registry and returns an
//! Allow policy for the API stage, a context carrying the tenant (the same claim names as the
//! token), and `usageIdentifierKey` = that tenant's own API key, so its tier's usage plan
//! throttles and meters each tenant separately (the API uses `apiKeySource: AUTHORIZER`).

pub mod config;
pub mod error;
pub mod handler;
pub mod registry;

pub use error::AuthError;
pub use handler::{Deps, authorize, handle};
