//! Tenant identity for the Tenantry suite.
//!
//! Every hop of a request derives the tenant from a verified identity through this crate:
//! the tier catalog (`infra/tiers.json`), validated identifiers, Cognito ID token verification
//! with a cached JWKS, the `TenantContext` and the names derived from it (memory actor id and
//! namespaces, S3 prefix, STS session tags and role session name, tenant headers), and the
//! usage event used for per-tenant cost attribution.
//!
//! Deliberately free of the AWS SDK: it is linked into every function and the agent.

mod context;
mod error;
mod ids;
mod jwks;
mod names;
mod namespace;
mod recall;
mod session;
mod tiers;
mod token;
mod token_cache;
mod usage;

pub use context::{
    CLAIM_CLINIC_ID, CLAIM_ROLE, CLAIM_SUB, CLAIM_TIER, CLAIM_USERNAME, ClaimSource, TenantContext,
};
pub use error::{Error, IdKind};
pub use ids::{
    CLINIC_ID_MAX_LEN, ClinicId, ROLE_MAX_LEN, Role, RuntimeSessionId, TIER_NAME_MAX_LEN, TierName,
    USER_KEY_MAX_LEN, UserKey,
};
pub use names::{
    API_KEY_TAG_APPLICATION, API_KEY_TAG_CLINIC_ID, ActorId, MemoryOwner, MemorySessionId,
    ROLE_SESSION_NAME_MAX, TAG_CLINIC_ID, TAG_TIER, TAG_USER_ID, api_key_tags,
};
pub use namespace::{ACTOR_ID_PLACEHOLDER, SESSION_ID_PLACEHOLDER, namespace_template_is_valid};
pub use recall::RecallRules;
pub use session::{
    SESSION_KEY_MIN_LEN, SESSION_MAX_AGE, SessionBinder, is_session_log_id, session_log_id,
};
pub use tiers::{
    BedrockProject, BusinessHours, DataRetention, EMBEDDED_TIER_FILE, GuardrailPolicy,
    IfGuardrailUnavailable, KnowledgeBase, MemoryConfig, MemoryStrategy, MemoryStrategyKind,
    Pricing, Quota, QuotaPeriod, RoleConfig, TierCatalog, TierConfig, TokenBudget, UsagePlan,
    is_gateway_target_name,
};
pub use token::{
    ENV_AUDIENCE, ENV_ISSUER, ENV_JWKS_REFRESH_SECS, ENV_JWKS_URL, ENV_LEEWAY_SECS,
    ID_TOKEN_LIFETIME, KEEP_VERIFIED, MAX_LEEWAY, TokenVerifier, VerifiedToken, VerifierConfig,
};
pub use token_cache::{TokenCache, TokenKey};
pub use usage::{USAGE_EVENT_NAME, Usage, UsageEvent};

/// Entry points for the fuzz targets in `dev/fuzz/`, compiled only when fuzzing.
#[cfg(fuzzing)]
pub mod fuzzing {
    /// The key ids a JWKS document yields.
    pub fn jwks_keys(body: &[u8]) -> Result<Vec<String>, String> {
        crate::jwks::parse_document(body).map(|keys| keys.keys().cloned().collect())
    }
}
