//! What AgentCore Gateway tells a Lambda target about a tool call: the invocation's client
//! context, `{"custom": {...}}`, with the keys AWS documents for Lambda targets. The event
//! itself is only the tool's arguments.
//!
//! Written by the Gateway (and by the Gateway emulation, the benchmarks and the tour), read by
//! the tool target. Unknown keys are kept out of the type but never refused: AWS may add some.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Separates the target's name from the tool's in [`ToolCallContext::tool_name`]
/// (`<TargetName>___<tool>`).
pub const TOOL_SEPARATOR: &str = "___";
pub const TOOL_NAME_KEY: &str = "bedrockAgentCoreToolName";
pub const PROPAGATED_HEADERS_KEY: &str = "bedrockAgentCorePropagatedHeaders";
/// The only message version AWS documents.
pub const MESSAGE_VERSION: &str = "1.0";

/// The Lambda client context of a Gateway tool call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClientContext {
    /// Missing is the same as empty: no tool name, which the reader refuses.
    #[serde(default)]
    pub custom: ToolCallContext,
}

/// `clientContext.custom` of a Gateway tool call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ToolCallContext {
    /// `<TargetName>___<tool>`; empty when absent.
    #[serde(rename = "bedrockAgentCoreToolName", default)]
    pub tool_name: String,
    #[serde(
        rename = "bedrockAgentCoreGatewayId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub gateway_id: Option<String>,
    #[serde(
        rename = "bedrockAgentCoreTargetId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub target_id: Option<String>,
    #[serde(
        rename = "bedrockAgentCoreMessageVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_version: Option<String>,
    #[serde(
        rename = "bedrockAgentCoreAwsRequestId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub aws_request_id: Option<String>,
    #[serde(
        rename = "bedrockAgentCoreMcpMessageId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mcp_message_id: Option<String>,
    /// The allow-listed request headers, as the caller spelled their names. A nested object
    /// (AWS's shape); the same object encoded as a JSON string is read too. Values must be
    /// strings.
    #[serde(
        rename = "bedrockAgentCorePropagatedHeaders",
        default,
        deserialize_with = "object_or_encoded_object",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub propagated_headers: BTreeMap<String, String>,
}

impl ToolCallContext {
    /// A call of `tool` on the target `target`, with these propagated headers.
    pub fn new(
        target: &str,
        tool: &str,
        headers: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        Self {
            tool_name: format!("{target}{TOOL_SEPARATOR}{tool}"),
            message_version: Some(MESSAGE_VERSION.to_owned()),
            propagated_headers: headers.into_iter().collect(),
            ..Self::default()
        }
    }

    /// The target's and the tool's names, when the tool name has the Gateway's shape.
    pub fn target_and_tool(&self) -> Option<(&str, &str)> {
        self.tool_name.split_once(TOOL_SEPARATOR)
    }

    /// The whole client context (`{"custom": ...}`) as JSON, as the Lambda Invoke API takes it
    /// (before its base64 encoding).
    pub fn to_client_context(&self) -> String {
        // A struct of strings and a map of strings: serialization cannot fail.
        serde_json::to_string(&ClientContext {
            custom: self.clone(),
        })
        .unwrap_or_default()
    }
}

fn object_or_encoded_object<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Object(BTreeMap<String, String>),
        Encoded(String),
        Null(()),
    }
    match Either::deserialize(d)? {
        Either::Object(map) => Ok(map),
        Either::Null(()) => Ok(BTreeMap::new()),
        Either::Encoded(s) => serde_json::from_str(&s).map_err(|_| {
            serde::de::Error::custom("propagated headers are not an object of strings")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_aws_documented_keys() {
        let raw = json!({"custom": {
            "bedrockAgentCoreMessageVersion": "1.0",
            "bedrockAgentCoreAwsRequestId": "r",
            "bedrockAgentCoreMcpMessageId": "m",
            "bedrockAgentCoreGatewayId": "g",
            "bedrockAgentCoreTargetId": "t",
            "bedrockAgentCoreToolName": "tenantry-basic-tools___clinic_config",
            "bedrockAgentCorePropagatedHeaders": {"X-Tier": "basic"},
            "somethingAwsAddsLater": 1
        }});
        let ctx: ClientContext = serde_json::from_value(raw).unwrap();
        assert_eq!(
            ctx.custom.target_and_tool(),
            Some(("tenantry-basic-tools", "clinic_config"))
        );
        assert_eq!(ctx.custom.gateway_id.as_deref(), Some("g"));
        assert_eq!(ctx.custom.propagated_headers["X-Tier"], "basic");
    }

    #[test]
    fn headers_as_an_encoded_object_or_null_are_read_and_other_values_refused() {
        let encoded = json!({"custom": {"bedrockAgentCoreToolName": "a___b",
            "bedrockAgentCorePropagatedHeaders": "{\"X-Tier\":\"basic\"}"}});
        let ctx: ClientContext = serde_json::from_value(encoded).unwrap();
        assert_eq!(ctx.custom.propagated_headers["X-Tier"], "basic");
        let null = json!({"custom": {"bedrockAgentCorePropagatedHeaders": null}});
        assert!(serde_json::from_value::<ClientContext>(null).is_ok());
        for bad in [
            json!({"X-Tier": 1}),
            json!("not json"),
            json!(["X-Tier"]),
            json!(7),
        ] {
            let raw = json!({"custom": {"bedrockAgentCorePropagatedHeaders": bad}});
            assert!(serde_json::from_value::<ClientContext>(raw).is_err());
        }
    }

    #[test]
    fn what_a_writer_writes_the_reader_reads() {
        let mut call = ToolCallContext::new(
            "tenantry-premium-tools",
            "patient_context",
            [("X-Clinic-ID".to_owned(), "clinic-b".to_owned())],
        );
        call.gateway_id = Some("gw".into());
        let back: ClientContext = serde_json::from_str(&call.to_client_context()).unwrap();
        assert_eq!(back.custom, call);
    }
}
