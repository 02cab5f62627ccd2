//! One AgentCore policy engine with the Cedar policies of `infra/policies/*.cedar`, one
//! `Policy` per statement (AgentCore takes one statement per policy).

use serde_json::{Value, json};

use crate::cfn::{get_att, pascal, reference, sub, tag_list};
use crate::ids::TierIds;
use crate::shared::APP_TAGS;
use crate::{Error, Inputs, Template};

/// The parameter choosing how AgentCore validates the Cedar policies.
pub const POLICY_VALIDATION: &str = "PolicyValidationMode";

pub fn add(t: &mut Template, inputs: &Inputs) -> Result<(), Error> {
    t.parameter(
        POLICY_VALIDATION,
        json!({
            "Type": "String",
            "Default": "FAIL_ON_ANY_FINDINGS",
            "AllowedValues": ["FAIL_ON_ANY_FINDINGS", "IGNORE_ALL_FINDINGS"],
            "Description": "How AgentCore Policy validates the Cedar policies: FAIL_ON_ANY_FINDINGS refuses a policy its analyzer finds overly permissive, overly restrictive or ineffective across the engine; IGNORE_ALL_FINDINGS keeps only the schema checks. Keep the default; see docs/deploying.md if a first deployment fails on a finding."
        }),
    )?;
    t.resource(
        "PolicyEngine",
        json!({
            "Type": "AWS::BedrockAgentCore::PolicyEngine",
            "Properties": {
                "Name": sub("${NamePrefix}_policies"),
                "Description": "Tier boundaries for tool calls (infra/policies/*.cedar)",
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    // Policies are validated against the tools the Gateway targets expose: create them after.
    let targets: Vec<Value> = inputs
        .tiers
        .iter()
        .map(|(tier, _)| Value::String(TierIds::of(tier.as_str()).target))
        .collect();
    for statement in &inputs.cedar {
        t.resource(
            &format!("Policy{}", pascal(&statement.id)),
            json!({
                "Type": "AWS::BedrockAgentCore::Policy",
                "DependsOn": targets,
                "Properties": {
                    "PolicyEngineId": get_att("PolicyEngine", "PolicyEngineId"),
                    "Name": statement.id.replace('-', "_"),
                    "Description": format!("infra/policies/{} @id(\"{}\")", statement.file, statement.id),
                    "Definition": { "Cedar": { "Statement": named_gateways(&statement.cedar, inputs)? } },
                    // The policy analyzer's verdict on the whole engine decides; whether it
                    // finds nothing in these policies only a deployment shows (the parameter's
                    // escape hatch: docs/deploying.md).
                    "ValidationMode": reference(POLICY_VALIDATION)
                }
            }),
        )?;
    }
    t.output(
        "PolicyEngineArn",
        "AgentCore policy engine (ENFORCE on every tier's Gateway)",
        get_att("PolicyEngine", "PolicyEngineArn"),
    )
}

/// The statement with each tier's Gateway placeholder replaced by that Gateway's ARN and its
/// runtime-role placeholder by the role's name (`Ref` of the role; `Fn::Sub`; Cedar text holds
/// no `${` of its own). A placeholder of a tier the template does
/// not define would stay and permit nothing, so it is refused here.
fn named_gateways(cedar: &str, inputs: &Inputs) -> Result<Value, Error> {
    let mut text = cedar.to_owned();
    for (tier, _) in inputs.tiers.iter() {
        let gateway = TierIds::of(tier.as_str()).gateway;
        text = text
            .replace(
                &gateway_policy::gateway_placeholder(tier.as_str()),
                &format!("${{{gateway}.GatewayArn}}"),
            )
            .replace(
                &gateway_policy::runtime_role_placeholder(tier.as_str()),
                &format!("${{{}RuntimeRole}}", pascal(tier.as_str())),
            );
    }
    if text.contains("{{") || cedar.contains("${") {
        return Err(Error::Tier {
            tier: "*".into(),
            reason: format!(
                "a Cedar policy names a Gateway this template does not define: {cedar}"
            ),
        });
    }
    Ok(json!({ "Fn::Sub": text }))
}
