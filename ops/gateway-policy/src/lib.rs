//! The AgentCore Gateway's Cedar policies, exactly as shipped in `infra/policies/`: loaded,
//! validated against their schema (strict mode), and evaluated the way AgentCore Policy presents
//! a tool call on a Gateway with `AWS_IAM` inbound auth: principal `AgentCore::IamEntity` (its
//! `id` the caller's ARN; no tags), action `AgentCore::Action::"<Target>___<tool>"`, resource
//! `AgentCore::Gateway::"<arn>"`, and `context.input` = the tool's arguments. Each policy names
//! its tier's Gateway and runtime role by placeholders (`gateway_placeholder`,
//! `runtime_role_placeholder`), filled in where it runs.
//!
//! The tests here are the Cedar layer's proof; the local front doors (devstack, later) evaluate
//! the same files through this crate.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy,
    PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};

pub const SCHEMA_FILE: &str = include_str!("../../../infra/policies/agentcore.cedarschema");
pub const POLICY_FILES: [(&str, &str); 2] = [
    (
        "basic-tier.cedar",
        include_str!("../../../infra/policies/basic-tier.cedar"),
    ),
    (
        "premium-tier.cedar",
        include_str!("../../../infra/policies/premium-tier.cedar"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("Cedar schema: {0}")]
    Schema(String),
    #[error("Cedar policy file {file}: {reason}")]
    Policy { file: &'static str, reason: String },
    #[error("the policies do not validate against the schema: {0}")]
    Validation(String),
    #[error("the request does not fit the schema: {0}")]
    Request(String),
}

/// A tool call as the Gateway's policy engine sees it.
pub struct ToolCall<'a> {
    /// The caller's ARN (for a role session: `arn:aws:sts::<account>:assumed-role/<role>/<session>`).
    pub principal_arn: &'a str,
    /// `<Target>___<tool>`.
    pub action: &'a str,
    pub gateway_arn: &'a str,
    /// The tool's arguments.
    pub input: &'a serde_json::Value,
}

/// One policy of the shipped files, as AgentCore Policy takes it (one statement per policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The `@id` annotation (unique across the files).
    pub id: String,
    /// The file it comes from.
    pub file: &'static str,
    /// The policy's Cedar text, without annotations (the id travels as the policy's name).
    pub cedar: String,
}

pub struct GatewayPolicy {
    schema: Schema,
    policies: PolicySet,
}

/// Where a policy names its tier's Gateway: `resource == AgentCore::Gateway::"{{gateway:<tier>}}"`.
/// The deployment fills in the Gateway's ARN (the template, with `Fn::Sub`); a local Gateway
/// fills in its own with [`GatewayPolicy::for_gateways`]. Left unfilled it matches no Gateway,
/// so a policy of a tier whose Gateway is not named permits nothing.
pub fn gateway_placeholder(tier: &str) -> String {
    format!("{{{{gateway:{tier}}}}}")
}

/// Where a policy names its tier's runtime role (the Gateway's only caller): `{{runtime-role:
/// <tier>}}`, the role's NAME inside ARN patterns. Filled like [`gateway_placeholder`]; left
/// unfilled it matches no caller.
pub fn runtime_role_placeholder(tier: &str) -> String {
    format!("{{{{runtime-role:{tier}}}}}")
}

/// What a deployed (or local) Gateway of one tier fills into its tier's policies.
#[derive(Debug, Clone, Copy)]
pub struct Deployed<'a> {
    pub tier: &'a str,
    pub gateway_arn: &'a str,
    /// The name of the tier's runtime role.
    pub runtime_role: &'a str,
}

impl GatewayPolicy {
    /// The schema and policies shipped in infra/policies, validated in strict mode, with the
    /// Gateway placeholders as they are (they permit nothing until filled in).
    pub fn shipped() -> Result<Self, PolicyError> {
        Self::load(&[])
    }

    /// The shipped policies with each tier's Gateway ARN and runtime role filled in: what a
    /// deployed Gateway of that tier evaluates.
    pub fn for_gateways(gateways: &[Deployed<'_>]) -> Result<Self, PolicyError> {
        Self::load(gateways)
    }

    fn load(gateways: &[Deployed<'_>]) -> Result<Self, PolicyError> {
        let (schema, _warnings) = Schema::from_cedarschema_str(SCHEMA_FILE)
            .map_err(|e| PolicyError::Schema(e.to_string()))?;
        let mut policies = PolicySet::new();
        for (file, text) in POLICY_FILES {
            let text = gateways.iter().fold(text.to_owned(), |t, d| {
                t.replace(&gateway_placeholder(d.tier), d.gateway_arn)
                    .replace(&runtime_role_placeholder(d.tier), d.runtime_role)
            });
            let parsed = PolicySet::from_str(&text).map_err(|e| PolicyError::Policy {
                file,
                reason: e.to_string(),
            })?;
            for (i, policy) in parsed.policies().enumerate() {
                // Ids from the @id annotation (unique across files), else file#n.
                let id = policy
                    .annotation("id")
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{file}#{i}"));
                let renamed: Policy = policy.new_id(PolicyId::new(id));
                policies.add(renamed).map_err(|e| PolicyError::Policy {
                    file,
                    reason: e.to_string(),
                })?;
            }
        }
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !result.validation_passed() {
            let errors: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
            return Err(PolicyError::Validation(errors.join("; ")));
        }
        Ok(Self { schema, policies })
    }

    /// Every policy, in file order, for deployment as one AgentCore `Policy` each.
    pub fn statements(&self) -> Result<Vec<Statement>, PolicyError> {
        let mut out = Vec::new();
        for (file, text) in POLICY_FILES {
            let parsed = PolicySet::from_str(text).map_err(|e| PolicyError::Policy {
                file,
                reason: e.to_string(),
            })?;
            for policy in parsed.policies() {
                let id = policy.annotation("id").ok_or_else(|| PolicyError::Policy {
                    file,
                    reason: "every policy needs an @id annotation (it names the deployed policy)"
                        .into(),
                })?;
                let text = policy.to_cedar().ok_or_else(|| PolicyError::Policy {
                    file,
                    reason: format!("policy {id} is a template link; ship plain policies"),
                })?;
                let cedar = text
                    .lines()
                    .skip_while(|l| l.trim_start().starts_with('@'))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.push(Statement {
                    id: id.to_owned(),
                    file,
                    cedar,
                });
            }
        }
        // The statements must still be the policies that were validated above.
        debug_assert_eq!(out.len(), self.policies.policies().count());
        Ok(out)
    }

    /// Whether the policies permit this call (no permit means deny: Cedar is default-deny).
    pub fn permits(&self, call: &ToolCall<'_>) -> Result<bool, PolicyError> {
        let bad = |e: &dyn std::fmt::Display| PolicyError::Request(e.to_string());
        let uid = |ty: &str, id: &str| -> Result<EntityUid, PolicyError> {
            let ty = EntityTypeName::from_str(ty).map_err(|e| bad(&e))?;
            Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
        };
        let principal = uid("AgentCore::IamEntity", call.principal_arn)?;
        let action = uid("AgentCore::Action", call.action)?;
        let resource = uid("AgentCore::Gateway", call.gateway_arn)?;
        let attrs = HashMap::from([(
            "id".to_owned(),
            RestrictedExpression::new_string(call.principal_arn.to_owned()),
        )]);
        let user = Entity::new(principal.clone(), attrs, HashSet::new()).map_err(|e| bad(&e))?;
        let gateway = Entity::new_no_attrs(resource.clone(), HashSet::new());
        let entities =
            Entities::from_entities([user, gateway], Some(&self.schema)).map_err(|e| bad(&e))?;
        let context = Context::from_json_value(
            serde_json::json!({ "input": call.input }),
            Some((&self.schema, &action)),
        )
        .map_err(|e| bad(&e))?;
        let request = Request::new(principal, action, resource, context, Some(&self.schema))
            .map_err(|e| bad(&e))?;
        let response = Authorizer::new().is_authorized(&request, &self.policies, &entities);
        Ok(response.decision() == Decision::Allow)
    }
}
