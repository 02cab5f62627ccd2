//! Tenant onboarding and offboarding on a deployed stack.
//!
//! A tenant (clinic) gets: its own API key, attached to its tier's usage plan (per-tenant
//! throttling and quota: DESIGN §5), a TenantRegistry row naming that key, a ClinicConfig row,
//! and optionally its first user, whose tenant attributes (`custom:tier`, `custom:clinic_id`,
//! `custom:role`) only an administrator can write. Every step is idempotent, and the same plan
//! object drives both `--dry-run` (printed) and the real run (applied), so the dry run lists
//! exactly what a run does.

pub mod apply;
pub mod audit;
pub mod documents;
pub mod erasure;
pub mod error;
pub mod export;
pub mod memory;
pub mod outputs;
pub mod plan;
pub mod tenants;
pub mod tier_change;
pub mod users;

pub use error::AdminError;
pub use outputs::StackOutputs;
pub use plan::{Action, Plan, Targets};
pub use tenants::{Tenant, TenantUser, load_tenants};

/// Registry status values the authorizer understands.
pub use tenant_registry::TenantStatus;
