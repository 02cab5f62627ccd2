//! The per-invocation usage event: one JSON log line per model call, the input for per-tenant
//! cost attribution (CloudWatch Logs Insights queries filter on `event = "inference_usage"`).

use serde::Serialize;

use crate::context::TenantContext;
use crate::ids::{ClinicId, TierName, UserKey};
use crate::tiers::TierConfig;

pub const USAGE_EVENT_NAME: &str = "inference_usage";

/// The per-clinic usage line: who, and what the turn cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageEvent {
    pub event: &'static str,
    pub tier: TierName,
    pub clinic_id: ClinicId,
    pub user_id: UserKey,
    /// At the top level of the line, as the Logs Insights queries read it.
    #[serde(flatten)]
    pub usage: Usage,
}

/// What a turn cost: the part of the usage line its caller is shown too.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub model_id: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    /// From the tier file's prices: an estimate, not a bill.
    pub estimated_cost: f64,
    pub currency: String,
}

impl UsageEvent {
    pub fn new(
        ctx: &TenantContext,
        tier: &TierConfig,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Self {
        Self {
            event: USAGE_EVENT_NAME,
            tier: ctx.tier().clone(),
            clinic_id: ctx.clinic_id().clone(),
            user_id: ctx.user().clone(),
            usage: Usage {
                model_id: tier.model_id.clone(),
                input_tokens,
                output_tokens,
                total_tokens: input_tokens.saturating_add(output_tokens),
                estimated_cost: tier.estimate_cost(input_tokens, output_tokens),
                currency: tier.pricing.currency.clone(),
            },
        }
    }

    /// The event as one line of JSON.
    pub fn to_log_line(&self) -> String {
        // Serializing plain strings and numbers cannot fail; keep a visible fallback anyway
        // rather than a panic in a logging path.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"event":"{USAGE_EVENT_NAME}","serialization_error":"{e}"}}"#)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiers::TierCatalog;
    use std::collections::HashMap;

    #[test]
    fn usage_line_carries_tenant_model_and_tokens() {
        let cat = TierCatalog::embedded().unwrap();
        let claims: HashMap<String, String> = [
            ("sub", "u-1"),
            ("custom:tier", "premium"),
            ("custom:clinic_id", "hospital-x"),
            ("custom:role", "clinician"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let ctx = TenantContext::from_claims(&claims, &cat).unwrap();
        let tier = cat.config(ctx.tier()).unwrap();
        let line = UsageEvent::new(&ctx, tier, 1200, 300).to_log_line();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "inference_usage");
        assert_eq!(v["tier"], "premium");
        assert_eq!(v["clinic_id"], "hospital-x");
        assert_eq!(v["user_id"], "u-1");
        assert_eq!(v["model_id"], tier.model_id.as_str());
        assert_eq!(v["input_tokens"], 1200);
        assert_eq!(v["output_tokens"], 300);
        assert_eq!(v["total_tokens"], 1500);
        assert!(v["estimated_cost"].as_f64().unwrap() > 0.0);
    }
}
