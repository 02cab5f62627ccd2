//! The tier catalog: `infra/tiers.json` read into typed configuration.
//!
//! The file is the single source of tier data; it is embedded at build time so a deployed
//! function cannot drift from the file it was tested with. A malformed file fails with an error
//! naming the field (JSON path) and the rule.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::error::Error;
use crate::ids::{Role, TierName};
use crate::namespace::{ACTOR_ID_PLACEHOLDER, SESSION_ID_PLACEHOLDER, namespace_template_is_valid};

/// The tier file as shipped in `infra/tiers.json`.
pub const EMBEDDED_TIER_FILE: &str = include_str!("../../../infra/tiers.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierFile {
    #[serde(rename = "$comment", default)]
    _comment: Option<String>,
    roles: RoleFile,
    tiers: BTreeMap<String, TierConfig>,
}

#[derive(Debug, Clone, Deserialize)]
struct RoleFile {
    #[serde(rename = "$comment", default)]
    _comment: Option<String>,
    #[serde(flatten)]
    roles: BTreeMap<String, RoleConfig>,
}

/// What one user role may use, within its tier's tools.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub tools: Vec<String>,
    /// Whether the role sees its own clinic's usage and estimated cost per day (the web
    /// chat's usage panel, `GET /usage`). Every role sees the day's remaining requests.
    #[serde(default)]
    pub sees_usage: bool,
    /// Whether the role reads its own clinic's PHI access audit trail (`GET /audit`, the web
    /// chat's admin panel).
    #[serde(default)]
    pub reads_audit: bool,
}

/// One tier's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub display_name: String,
    /// Model id on the OpenAI-compatible Bedrock endpoint.
    pub model_id: String,
    /// The name of this tier's AgentCore Gateway target for the tool-target Lambda
    /// (`([0-9a-zA-Z][-]?){1,100}`); unique across tiers.
    pub gateway_target: String,
    pub bedrock_project: BedrockProject,
    pub usage_plan: UsagePlan,
    /// Tools (MCP tool names) this tier may call.
    pub tools: Vec<String>,
    /// `None`: every tool at any hour.
    pub business_hours: Option<BusinessHours>,
    pub memory: MemoryConfig,
    pub knowledge_base: KnowledgeBase,
    pub pricing: Pricing,
    /// Amazon Bedrock Guardrails on the prompt and on the answer; `None`: none.
    pub guardrail: Option<GuardrailPolicy>,
    /// Tokens a clinic of this tier may use (a clinic's registry row may set its own).
    pub token_budget: TokenBudget,
}

/// Model tokens (input plus output) a clinic may use per UTC day and, optionally, per UTC
/// month; the agent reserves each model call's estimate against both before making it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBudget {
    pub daily_tokens: u64,
    #[serde(default)]
    pub monthly_tokens: Option<u64>,
}

impl TokenBudget {
    /// Why a budget cannot be used, if it cannot (a tier file's or a registry row's).
    pub fn problem(&self) -> Option<&'static str> {
        if self.daily_tokens == 0 {
            Some("daily_tokens must be at least 1")
        } else if self.monthly_tokens.is_some_and(|m| m < self.daily_tokens) {
            Some("monthly_tokens must be at least daily_tokens")
        } else {
            None
        }
    }
}

/// How a tier uses its guardrail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailPolicy {
    /// What to do when the guardrail cannot be reached.
    pub if_unavailable: IfGuardrailUnavailable,
}

/// Refuse (fail closed: the healthcare default) or answer unchecked (and say so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfGuardrailUnavailable {
    Refuse,
    Answer,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedrockProject {
    pub name: String,
    /// SSM parameter that holds the project id once deployed.
    pub ssm_parameter: String,
    /// What Amazon Bedrock may keep of the prompts and answers sent under this project
    /// (`scripts/bedrock-projects.sh` sets it on the project; the API's default is `inherit`).
    pub data_retention: DataRetention,
}

/// The project's data retention mode, as Amazon Bedrock's `ProjectDataRetention.mode` names it.
/// Only the two modes that keep request data from reviewers and model providers are accepted:
/// prompts carry patient data. `inherit` is refused too, so the setting is always explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum DataRetention {
    /// Zero data retention (`none`): a model that requires retention is refused by Bedrock.
    #[serde(rename = "none")]
    Zero,
    /// The model's standard data handling (`default`).
    #[serde(rename = "default")]
    ModelDefault,
}

/// API Gateway usage plan settings, applied per tenant API key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsagePlan {
    /// Steady-state requests per second.
    pub rate_limit: f64,
    pub burst_limit: u32,
    pub quota: Quota,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub limit: u32,
    pub period: QuotaPeriod,
}

/// API Gateway's quota periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

/// Hours (clinic local time, `start_hour <= h < end_hour`) in which `tools` may be used.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    pub start_hour: u8,
    pub end_hour: u8,
    pub tools: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// Days until short-term events (the conversation's turns) expire: 7 to 365, the range
    /// both the API's documentation and the CloudFormation schema accept.
    pub event_expiry_days: u16,
    /// Days until the long-term records every strategy extracts expire (AWS's minimum is 31);
    /// without it AWS keeps them for ever.
    pub record_expiry_days: u16,
    pub strategies: Vec<MemoryStrategy>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryStrategy {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MemoryStrategyKind,
    /// Namespace template; must contain `{actorId}` once, may contain `{sessionId}`.
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryStrategyKind {
    Semantic,
    Summary,
    UserPreference,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBase {
    pub name: String,
    /// SSM parameter that holds the knowledge base id once deployed.
    pub ssm_parameter: String,
    /// Bedrock embedding model (foundation model id) the knowledge base indexes with.
    pub embedding_model_id: String,
    /// Vector dimensions of that model's embeddings (the vector index is created with them).
    pub embedding_dimensions: u16,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    pub currency: String,
    pub input_per_1k_tokens: f64,
    pub output_per_1k_tokens: f64,
}

impl TierConfig {
    pub fn allows_tool(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }

    /// Whether `tool` may run at `hour` (0-23, clinic local time) under this tier's rules.
    pub fn allows_tool_at(&self, tool: &str, hour: u8) -> bool {
        self.allows_tool(tool)
            && match &self.business_hours {
                Some(bh) if bh.tools.iter().any(|t| t == tool) => {
                    (bh.start_hour..bh.end_hour).contains(&hour)
                }
                _ => true,
            }
    }

    /// Estimated cost of one inference, in `pricing.currency`.
    pub fn estimate_cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        // Token counts per call are far below f64's exact-integer range.
        (input_tokens as f64 / 1000.0) * self.pricing.input_per_1k_tokens
            + (output_tokens as f64 / 1000.0) * self.pricing.output_per_1k_tokens
    }
}

/// All tiers, validated.
#[derive(Debug, Clone)]
pub struct TierCatalog {
    tiers: BTreeMap<TierName, TierConfig>,
    roles: BTreeMap<Role, RoleConfig>,
}

impl TierCatalog {
    /// The tier file shipped with this build.
    pub fn embedded() -> Result<Self, Error> {
        Self::from_json(EMBEDDED_TIER_FILE)
    }

    pub fn from_json(text: &str) -> Result<Self, Error> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let file: TierFile =
            serde_path_to_error::deserialize(de).map_err(|e| Error::TierFileSyntax {
                field: e.path().to_string(),
                source: e.into_inner(),
            })?;
        if file.tiers.is_empty() {
            return Err(invalid("tiers", "at least one tier must be defined"));
        }
        let mut tiers = BTreeMap::new();
        let mut targets = BTreeSet::new();
        for (name, config) in file.tiers {
            let field = format!("tiers.{name}");
            let tier = TierName::parse(&name).map_err(|e| invalid(&field, e))?;
            validate_tier(&field, &config)?;
            if !targets.insert(config.gateway_target.clone()) {
                return Err(invalid(
                    &format!("{field}.gateway_target"),
                    "is used by another tier",
                ));
            }
            tiers.insert(tier, config);
        }
        // A role's tools may name tools no tier of this file has: what a user may call is
        // the intersection of their role's tools and their tier's.
        let mut roles = BTreeMap::new();
        for (name, config) in file.roles.roles {
            let field = format!("roles.{name}");
            let role = Role::parse(&name).map_err(|e| invalid(&field, e))?;
            if config.tools.iter().any(|t| t.trim().is_empty()) {
                return Err(invalid(&format!("{field}.tools"), "a tool name is empty"));
            }
            roles.insert(role, config);
        }
        if roles.is_empty() {
            return Err(invalid("roles", "at least one role must be defined"));
        }
        Ok(Self { tiers, roles })
    }

    /// Whether a user of `role` may use `tool` (within their tier's tools, which
    /// `TierConfig::allows_tool` decides). Fails closed: a role the file does not list may use
    /// nothing.
    pub fn role_allows(&self, role: &Role, tool: &str) -> bool {
        self.roles
            .get(role)
            .is_some_and(|r| r.tools.iter().any(|t| t == tool))
    }

    /// Whether `role` may see its clinic's usage and cost; an unknown role may not.
    pub fn role_sees_usage(&self, role: &Role) -> bool {
        self.roles.get(role).is_some_and(|r| r.sees_usage)
    }

    /// Whether `role` may read its clinic's audit trail; an unknown role may not.
    pub fn role_reads_audit(&self, role: &Role) -> bool {
        self.roles.get(role).is_some_and(|r| r.reads_audit)
    }

    /// The roles the file defines.
    pub fn roles(&self) -> impl Iterator<Item = (&Role, &RoleConfig)> {
        self.roles.iter()
    }

    /// The tier named `raw`, if it is defined. Fails closed: an unknown tier is an error, never
    /// a fallback to some default tier.
    pub fn tier(&self, raw: &str) -> Result<TierName, Error> {
        let name = TierName::parse(raw)?;
        if self.tiers.contains_key(&name) {
            Ok(name)
        } else {
            Err(Error::UnknownTier)
        }
    }

    pub fn config(&self, tier: &TierName) -> Result<&TierConfig, Error> {
        self.tiers.get(tier).ok_or(Error::UnknownTier)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TierName, &TierConfig)> {
        self.tiers.iter()
    }

    /// The tier whose Gateway target has this name.
    pub fn tier_of_gateway_target(&self, target: &str) -> Option<&TierName> {
        self.tiers
            .iter()
            .find(|(_, c)| c.gateway_target == target)
            .map(|(t, _)| t)
    }
}

fn invalid(field: &str, reason: impl ToString) -> Error {
    Error::TierFileInvalid {
        field: field.to_owned(),
        reason: reason.to_string(),
    }
}

/// AgentCore Gateway target names: `([0-9a-zA-Z][-]?){1,100}`.
pub fn is_gateway_target_name(s: &str) -> bool {
    let mut prev_hyphen = true;
    let mut units = 0;
    for c in s.chars() {
        match c {
            '-' if prev_hyphen => return false,
            '-' => prev_hyphen = true,
            c if c.is_ascii_alphanumeric() => {
                prev_hyphen = false;
                units += 1;
            }
            _ => return false,
        }
    }
    (1..=100).contains(&units)
}

fn is_tool_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '_')
        && s.len() <= 64
}

fn validate_tier(field: &str, t: &TierConfig) -> Result<(), Error> {
    let f = |sub: &str| format!("{field}.{sub}");
    if t.model_id.trim().is_empty() {
        return Err(invalid(&f("model_id"), "must not be empty"));
    }
    if !is_gateway_target_name(&t.gateway_target) {
        return Err(invalid(
            &f("gateway_target"),
            "must match ([0-9a-zA-Z][-]?){1,100}",
        ));
    }
    for (sub, param) in [
        (
            "bedrock_project.ssm_parameter",
            &t.bedrock_project.ssm_parameter,
        ),
        (
            "knowledge_base.ssm_parameter",
            &t.knowledge_base.ssm_parameter,
        ),
    ] {
        if !param.starts_with('/') || param.len() < 2 {
            return Err(invalid(
                &f(sub),
                "must be an SSM parameter path starting with `/`",
            ));
        }
    }
    let plan = &t.usage_plan;
    if !(plan.rate_limit.is_finite() && plan.rate_limit > 0.0) {
        return Err(invalid(
            &f("usage_plan.rate_limit"),
            "must be a positive number",
        ));
    }
    if plan.burst_limit == 0 {
        return Err(invalid(&f("usage_plan.burst_limit"), "must be at least 1"));
    }
    if plan.quota.limit == 0 {
        return Err(invalid(&f("usage_plan.quota.limit"), "must be at least 1"));
    }
    if let Some(problem) = t.token_budget.problem() {
        return Err(invalid(&f("token_budget"), problem));
    }
    if t.tools.is_empty() {
        return Err(invalid(&f("tools"), "must list at least one tool"));
    }
    let mut seen = BTreeSet::new();
    for (i, tool) in t.tools.iter().enumerate() {
        if !is_tool_name(tool) {
            return Err(invalid(
                &f(&format!("tools[{i}]")),
                "must match ^[a-z][a-z0-9_]*$ (at most 64 characters)",
            ));
        }
        if !seen.insert(tool) {
            return Err(invalid(&f(&format!("tools[{i}]")), "is listed twice"));
        }
    }
    if let Some(bh) = &t.business_hours {
        if bh.start_hour >= bh.end_hour || bh.end_hour > 24 {
            return Err(invalid(
                &f("business_hours"),
                "needs 0 <= start_hour < end_hour <= 24",
            ));
        }
        if bh.tools.is_empty() {
            return Err(invalid(
                &f("business_hours.tools"),
                "must list at least one tool",
            ));
        }
        for (i, tool) in bh.tools.iter().enumerate() {
            if !t.allows_tool(tool) {
                return Err(invalid(
                    &f(&format!("business_hours.tools[{i}]")),
                    "is not one of this tier's tools",
                ));
            }
        }
    }
    if !(7..=365).contains(&t.memory.event_expiry_days) {
        return Err(invalid(&f("memory.event_expiry_days"), "must be 7 to 365"));
    }
    if !(31..=3650).contains(&t.memory.record_expiry_days) {
        return Err(invalid(
            &f("memory.record_expiry_days"),
            "must be 31 to 3650 (AWS's minimum is 31 days)",
        ));
    }
    let mut names = BTreeSet::new();
    for (i, s) in t.memory.strategies.iter().enumerate() {
        let sf = f(&format!("memory.strategies[{i}]"));
        if !is_tool_name(&s.name) {
            return Err(invalid(
                &format!("{sf}.name"),
                "must match ^[a-z][a-z0-9_]*$",
            ));
        }
        if !names.insert(&s.name) {
            return Err(invalid(&format!("{sf}.name"), "is used twice"));
        }
        if !namespace_template_is_valid(&s.namespace) {
            return Err(invalid(
                &format!("{sf}.namespace"),
                format!(
                    "must contain {ACTOR_ID_PLACEHOLDER} exactly once (and {SESSION_ID_PLACEHOLDER} at most once, after it, separated by `/`), other characters from [A-Za-z0-9/_-], at most 512 characters"
                ),
            ));
        }
    }
    let p = &t.pricing;
    if p.currency.len() != 3 || !p.currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(invalid(
            &f("pricing.currency"),
            "must be an ISO 4217 code such as USD",
        ));
    }
    for (sub, v) in [
        ("pricing.input_per_1k_tokens", p.input_per_1k_tokens),
        ("pricing.output_per_1k_tokens", p.output_per_1k_tokens),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(invalid(&f(sub), "must be a non-negative number"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn embedded_value() -> serde_json::Value {
        serde_json::from_str(EMBEDDED_TIER_FILE).expect("embedded tier file is JSON")
    }

    fn load(v: &serde_json::Value) -> Result<TierCatalog, Error> {
        TierCatalog::from_json(&v.to_string())
    }

    #[test]
    fn embedded_file_has_both_tiers_of_the_design() {
        let cat = TierCatalog::embedded().expect("embedded tier file is valid");
        let basic = cat.config(&cat.tier("basic").unwrap()).unwrap();
        let premium = cat.config(&cat.tier("premium").unwrap()).unwrap();
        assert_eq!(basic.model_id, "mistral.ministral-3-8b-instruct");
        assert_eq!(premium.model_id, "openai.gpt-oss-120b");
        assert_eq!(
            (basic.usage_plan.rate_limit, basic.usage_plan.burst_limit),
            (2.0, 5)
        );
        assert_eq!(basic.usage_plan.quota.limit, 50);
        assert_eq!(
            (
                premium.usage_plan.rate_limit,
                premium.usage_plan.burst_limit
            ),
            (10.0, 20)
        );
        assert_eq!(premium.usage_plan.quota.limit, 500);
        assert!(!basic.allows_tool("web_search"));
        assert!(premium.allows_tool("web_search"));
    }

    #[test]
    fn business_hours_rule() {
        let cat = TierCatalog::embedded().unwrap();
        let basic = cat.config(&cat.tier("basic").unwrap()).unwrap();
        let premium = cat.config(&cat.tier("premium").unwrap()).unwrap();
        assert!(!basic.allows_tool_at("patient_context", 7));
        assert!(basic.allows_tool_at("patient_context", 8));
        assert!(basic.allows_tool_at("patient_context", 17));
        assert!(!basic.allows_tool_at("patient_context", 18));
        assert!(basic.allows_tool_at("clinic_config", 23));
        assert!(premium.allows_tool_at("patient_context", 23));
        assert!(!basic.allows_tool_at("web_search", 12));
    }

    #[test]
    fn gateway_targets_map_to_tiers() {
        let cat = TierCatalog::embedded().unwrap();
        assert_eq!(
            cat.tier_of_gateway_target("tenantry-basic-tools")
                .map(|t| t.as_str()),
            Some("basic")
        );
        assert_eq!(
            cat.tier_of_gateway_target("tenantry-premium-tools")
                .map(|t| t.as_str()),
            Some("premium")
        );
        assert!(cat.tier_of_gateway_target("tenantry-gold-tools").is_none());
    }

    #[test]
    fn unknown_tier_fails_closed() {
        let cat = TierCatalog::embedded().unwrap();
        assert!(matches!(cat.tier("enterprise"), Err(Error::UnknownTier)));
        assert!(matches!(
            cat.tier("Premium"),
            Err(Error::InvalidIdentifier { .. })
        ));
        assert!(matches!(cat.tier(""), Err(Error::InvalidIdentifier { .. })));
    }

    #[test]
    fn syntax_error_names_the_field() {
        let mut v = embedded_value();
        v["tiers"]["basic"]["usage_plan"]["burst_limit"] = "five".into();
        let err = load(&v).unwrap_err();
        assert!(
            matches!(&err, Error::TierFileSyntax { field, .. } if field == "tiers.basic.usage_plan.burst_limit"),
            "{err}"
        );
    }

    #[test]
    fn missing_field_is_named() {
        let mut v = embedded_value();
        v["tiers"]["premium"]
            .as_object_mut()
            .unwrap()
            .remove("model_id");
        let err = load(&v).unwrap_err().to_string();
        assert!(
            err.contains("tiers.premium") && err.contains("model_id"),
            "{err}"
        );
    }

    #[test]
    fn unknown_field_is_named() {
        let mut v = embedded_value();
        v["tiers"]["basic"]["usage_plan"]["rate_limt"] = 3.into();
        let err = load(&v).unwrap_err().to_string();
        assert!(
            err.contains("tiers.basic.usage_plan") && err.contains("rate_limt"),
            "{err}"
        );
    }

    #[test]
    fn semantic_errors_name_the_field() {
        // (field the error must name, JSON pointer to change, new value)
        let cases = [
            ("tiers.basic.model_id", "/tiers/basic/model_id", json!("")),
            (
                "tiers.basic.usage_plan.rate_limit",
                "/tiers/basic/usage_plan/rate_limit",
                json!(0),
            ),
            (
                "tiers.basic.business_hours",
                "/tiers/basic/business_hours/end_hour",
                json!(25),
            ),
            (
                "tiers.basic.business_hours.tools[0]",
                "/tiers/basic/business_hours/tools/0",
                json!("web_search"),
            ),
            (
                "tiers.premium.memory.strategies[1].namespace",
                "/tiers/premium/memory/strategies/1/namespace",
                json!("/shared/preferences"),
            ),
            (
                "tiers.premium.tools[3]",
                "/tiers/premium/tools/3",
                json!("clinic_config"),
            ),
            (
                "tiers.basic.pricing.input_per_1k_tokens",
                "/tiers/basic/pricing/input_per_1k_tokens",
                json!(-1),
            ),
            (
                "tiers.basic.bedrock_project.ssm_parameter",
                "/tiers/basic/bedrock_project/ssm_parameter",
                json!("x"),
            ),
            (
                "tiers.basic.token_budget",
                "/tiers/basic/token_budget/daily_tokens",
                json!(0),
            ),
            (
                "tiers.premium.token_budget",
                "/tiers/premium/token_budget/monthly_tokens",
                json!(1),
            ),
            // Below CloudFormation's minimum of 3 and the API documentation's 7.
            (
                "tiers.basic.memory.event_expiry_days",
                "/tiers/basic/memory/event_expiry_days",
                json!(5),
            ),
            (
                "tiers.basic.memory.event_expiry_days",
                "/tiers/basic/memory/event_expiry_days",
                json!(366),
            ),
            // AWS refuses a record expiry under 31 days.
            (
                "tiers.premium.memory.record_expiry_days",
                "/tiers/premium/memory/record_expiry_days",
                json!(30),
            ),
        ];
        for (field, pointer, value) in cases {
            let mut v = embedded_value();
            *v.pointer_mut(pointer).expect(pointer) = value;
            match load(&v) {
                Err(Error::TierFileInvalid { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{field}: expected TierFileInvalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_tier_name_outside_the_grammar_is_named() {
        let mut v = embedded_value();
        v["tiers"]["Gold"] = v["tiers"]["basic"].clone();
        assert!(
            matches!(load(&v), Err(Error::TierFileInvalid { field, .. }) if field == "tiers.Gold")
        );
    }

    #[test]
    fn only_the_retention_modes_that_keep_prompts_in_are_accepted() {
        let cat = TierCatalog::embedded().unwrap();
        for (tier, config) in cat.iter() {
            let retention = config.bedrock_project.data_retention;
            assert_eq!(retention, DataRetention::Zero, "{tier}");
        }
        for refused in ["inherit", "aws_review", "provider_data_share", "None"] {
            let mut v = embedded_value();
            v["tiers"]["basic"]["bedrock_project"]["data_retention"] = refused.into();
            assert!(
                matches!(load(&v), Err(Error::TierFileSyntax { field, .. }) if field == "tiers.basic.bedrock_project.data_retention"),
                "{refused} was accepted"
            );
        }
        let mut v = embedded_value();
        v["tiers"]["basic"]["bedrock_project"]
            .as_object_mut()
            .unwrap()
            .remove("data_retention");
        assert!(load(&v).is_err(), "a project without a retention mode");
    }

    #[test]
    fn empty_tier_set_is_rejected() {
        let err = TierCatalog::from_json(r#"{"roles": {"admin": {"tools": []}}, "tiers": {}}"#)
            .unwrap_err();
        assert!(matches!(err, Error::TierFileInvalid { .. }));
    }

    #[test]
    fn roles_are_required_and_unknown_roles_may_use_nothing() {
        let mut v = embedded_value();
        v.as_object_mut().unwrap().remove("roles");
        assert!(matches!(load(&v), Err(Error::TierFileSyntax { .. })));
        let mut v = embedded_value();
        v["roles"] = json!({});
        assert!(matches!(load(&v), Err(Error::TierFileInvalid { field, .. }) if field == "roles"));
        let mut v = embedded_value();
        v["roles"]["Front Desk"] = json!({"tools": []});
        assert!(
            matches!(load(&v), Err(Error::TierFileInvalid { field, .. }) if field == "roles.Front Desk")
        );

        let cat = TierCatalog::embedded().unwrap();
        let role = |r: &str| Role::parse(r).unwrap();
        assert!(cat.role_allows(&role("clinician"), "patient_context"));
        assert!(cat.role_allows(&role("admin"), "clinic_config"));
        assert!(cat.role_sees_usage(&role("admin")));
        assert!(cat.role_reads_audit(&role("admin")));
        for r in ["clinician", "nurse", "specialist", "auditor"] {
            assert!(
                !cat.role_reads_audit(&role(r)),
                "{r} must not read the trail"
            );
        }
        for r in ["clinician", "nurse", "specialist", "auditor"] {
            assert!(!cat.role_sees_usage(&role(r)), "{r} must not see usage");
        }
        for tool in ["patient_context", "retrieve_clinic_documents", "web_search"] {
            assert!(
                !cat.role_allows(&role("admin"), tool),
                "admin may not use {tool}"
            );
        }
        assert!(!cat.role_allows(&role("front_desk"), "clinic_config"));
    }

    #[test]
    fn cost_estimate_uses_tier_prices() {
        let cat = TierCatalog::embedded().unwrap();
        let premium = cat.config(&cat.tier("premium").unwrap()).unwrap();
        let expected =
            premium.pricing.input_per_1k_tokens * 2.0 + premium.pricing.output_per_1k_tokens;
        assert!((premium.estimate_cost(2000, 1000) - expected).abs() < 1e-12);
    }
}
