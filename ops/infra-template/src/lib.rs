//! Generates the CloudFormation template for the whole suite (`infra/template.json`).
//!
//! The template is generated rather than written by hand because every per-tier part (usage
//! plan, bucket, AgentCore Runtime, Gateway, target, Memory, knowledge base) is a function of
//! `infra/tiers.json`: a new tier, a new rate limit or a new memory namespace must reach the
//! stack without anyone typing it a second time. The generator also renders the IAM documents
//! of `infra/policies/` (their `{{Placeholders}}`), splits the Cedar files into one AgentCore
//! policy per statement, and inlines the tool-target's generated tool schema. The checked-in
//! template is compared with a fresh rendering by a test, so it cannot drift.
//!
//! CloudFormation (not SAM) so that cfn-lint and checkov see exactly what is deployed, and so
//! deployment needs only the AWS CLI.

mod api;
pub mod cfn;
pub mod edge;
mod function_ids;
mod functions;
pub mod iam;
pub mod ids;
mod operator;
mod policy;
mod shared;
mod site;
pub mod startup;
mod tier;
mod tool_schema;

use serde_json::{Map, Value, json};
use tenant_context::TierCatalog;

pub use functions::{ARCHITECTURE, FUNCTIONS, FunctionId, VENDING};

/// Where the template is checked in, relative to the workspace root.
pub const TEMPLATE_PATH: &str = "infra/template.json";

pub const TVM_TRUST: &str = include_str!("../../../infra/policies/tvm-role-trust.json");
pub const TVM_DATA_PERMISSIONS: &str =
    include_str!("../../../infra/policies/tvm-data-permissions.json");
pub const TVM_MEMORY_PERMISSIONS: &str =
    include_str!("../../../infra/policies/tvm-memory-permissions.json");
pub const TOOL_SCHEMA: &str = include_str!("../../../infra/gateway/tool-target-schema.json");

/// The request headers the Gateway forwards to the tool target (at most 10): the caller's ID
/// token and the derived tenant headers, as the agent sends them and the tool target reads them.
pub use contracts::headers::PROPAGATED as PROPAGATED_HEADERS;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tier file: {0}")]
    Tiers(#[from] tenant_context::Error),
    #[error("Cedar policies: {0}")]
    Policy(#[from] gateway_policy::PolicyError),
    #[error("{file} is not valid JSON: {source}")]
    Json {
        file: &'static str,
        source: serde_json::Error,
    },
    #[error("placeholder {name}: {reason}")]
    Placeholder { name: String, reason: &'static str },
    #[error("tier {tier}: {reason}")]
    Tier { tier: String, reason: String },
    #[error("tool {tool}, {at}: {reason}")]
    ToolSchema {
        tool: String,
        at: String,
        reason: String,
    },
    #[error("logical id {0} is defined twice")]
    Duplicate(String),
}

/// Everything the template is made from.
pub struct Inputs {
    pub tiers: TierCatalog,
    pub tvm_trust: Value,
    pub tvm_data_permissions: Value,
    pub tvm_memory_permissions: Value,
    /// The tool-target's tools (`[{name, description, inputSchema}]`).
    pub tool_schema: Vec<Value>,
    pub cedar: Vec<gateway_policy::Statement>,
}

impl Inputs {
    /// The files shipped in the repository (embedded at build time).
    pub fn shipped() -> Result<Self, Error> {
        let json = |file: &'static str, text: &str| {
            serde_json::from_str::<Value>(text).map_err(|source| Error::Json { file, source })
        };
        let tool_schema = match json("infra/gateway/tool-target-schema.json", TOOL_SCHEMA)? {
            Value::Array(tools) => tools,
            _ => {
                return Err(Error::Tier {
                    tier: "*".into(),
                    reason: "infra/gateway/tool-target-schema.json must be a list of tools".into(),
                });
            }
        };
        Ok(Self {
            tiers: TierCatalog::embedded()?,
            tvm_trust: json("infra/policies/tvm-role-trust.json", TVM_TRUST)?,
            tvm_data_permissions: json(
                "infra/policies/tvm-data-permissions.json",
                TVM_DATA_PERMISSIONS,
            )?,
            tvm_memory_permissions: json(
                "infra/policies/tvm-memory-permissions.json",
                TVM_MEMORY_PERMISSIONS,
            )?,
            tool_schema,
            cedar: gateway_policy::GatewayPolicy::shipped()?.statements()?,
        })
    }
}

/// The template under construction: logical ids are unique by construction.
#[derive(Default)]
pub(crate) struct Template {
    parameters: Map<String, Value>,
    conditions: Map<String, Value>,
    resources: Map<String, Value>,
    outputs: Map<String, Value>,
}

impl Template {
    pub(crate) fn parameter(&mut self, id: &str, value: Value) -> Result<(), Error> {
        insert(&mut self.parameters, id, value)
    }
    pub(crate) fn condition(&mut self, id: &str, value: Value) -> Result<(), Error> {
        insert(&mut self.conditions, id, value)
    }
    pub(crate) fn resource(&mut self, id: &str, value: Value) -> Result<(), Error> {
        insert(&mut self.resources, id, value)
    }
    pub(crate) fn output(
        &mut self,
        id: &str,
        description: &str,
        value: Value,
    ) -> Result<(), Error> {
        insert(
            &mut self.outputs,
            id,
            json!({
                "Description": description,
                "Value": value,
                "Export": { "Name": { "Fn::Sub": format!("${{AWS::StackName}}-{id}") } }
            }),
        )
    }
}

fn insert(map: &mut Map<String, Value>, id: &str, value: Value) -> Result<(), Error> {
    if map.insert(id.to_owned(), value).is_some() {
        return Err(Error::Duplicate(id.to_owned()));
    }
    Ok(())
}

/// Renders the whole template.
pub fn render(inputs: &Inputs) -> Result<Value, Error> {
    let mut t = Template::default();
    shared::add(&mut t)?;
    functions::add(&mut t, inputs)?;
    api::add(&mut t, inputs)?;
    site::add(&mut t)?;
    for (name, config) in inputs.tiers.iter() {
        tier::add(&mut t, inputs, name.as_str(), config)?;
    }
    policy::add(&mut t, inputs)?;
    operator::add(&mut t, &inputs.tiers)?;
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Tenantry: pool-model multi-tenant agents on Amazon Bedrock AgentCore (GENERATED by `cargo run -p infra-template` from infra/tiers.json, infra/policies and infra/gateway: do not edit by hand)",
        "Parameters": t.parameters,
        "Conditions": t.conditions,
        "Resources": t.resources,
        "Outputs": t.outputs,
    });
    // CloudFormation rejects empty sections.
    if let Some(sections) = template.as_object_mut() {
        sections.retain(|_, v| v.as_object().is_none_or(|m| !m.is_empty()));
    }
    Ok(template)
}

/// The template as checked in: pretty JSON with a trailing newline.
pub fn render_text(inputs: &Inputs) -> Result<String, Error> {
    pretty(&render(inputs)?, TEMPLATE_PATH)
}

/// The edge template (`infra/edge-template.json`) as checked in.
pub fn render_edge_text() -> Result<String, Error> {
    pretty(&edge::render()?, edge::EDGE_TEMPLATE_PATH)
}

fn pretty(value: &Value, file: &'static str) -> Result<String, Error> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|source| Error::Json { file, source })?;
    text.push('\n');
    Ok(text)
}
