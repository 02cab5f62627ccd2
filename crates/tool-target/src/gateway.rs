//! What AgentCore Gateway tells a Lambda target about a tool call, read from the invocation's
//! client context (`context.clientContext.custom`, typed as `contracts::gateway::ToolCallContext`,
//! which the Gateway emulation and the benchmarks write):
//!
//! - `bedrockAgentCoreToolName`: `<TargetName>___<tool>` (three underscores);
//! - `bedrockAgentCoreGatewayId`, `...TargetId`, `...MessageVersion`, `...AwsRequestId`,
//!   `...McpMessageId`: strings, kept for logs;
//! - `bedrockAgentCorePropagatedHeaders`: the allow-listed request headers as a NESTED OBJECT
//!   (the value lambda_runtime 1.5.0 cannot parse; see `runtime.rs`).
//!
//! The event itself is only the tool's arguments.

use std::collections::BTreeMap;

use contracts::gateway::ClientContext;
pub use contracts::gateway::{PROPAGATED_HEADERS_KEY, TOOL_NAME_KEY};
use tenant_context::is_gateway_target_name;

use crate::error::ToolError;

/// Client contexts are at most a few KiB (Lambda caps them at 3583 bytes base64).
const MAX_CLIENT_CONTEXT_BYTES: usize = 8 * 1024;

/// A parsed Gateway tool call context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCall {
    pub target: String,
    pub tool: String,
    /// Propagated headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub gateway_id: Option<String>,
    pub mcp_message_id: Option<String>,
}

fn valid_tool_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '_')
        && s.len() <= 64
}

impl GatewayCall {
    /// Parses the raw `Lambda-Runtime-Client-Context` value. Missing, non-JSON, or malformed
    /// contexts are typed errors, never a panic or a default tool.
    pub fn from_client_context(raw: Option<&str>) -> Result<Self, ToolError> {
        let raw = raw
            .filter(|r| !r.is_empty())
            .ok_or(ToolError::MissingToolName)?;
        if raw.len() > MAX_CLIENT_CONTEXT_BYTES {
            return Err(ToolError::BadClientContext("larger than 8 KiB"));
        }
        let context: ClientContext = serde_json::from_value(parse_context(raw)?).map_err(|_| {
            ToolError::BadClientContext("not the Gateway's client context (see contracts::gateway)")
        })?;
        let custom = context.custom;
        if custom.tool_name.is_empty() {
            return Err(ToolError::MissingToolName);
        }
        let (target, tool) = custom
            .target_and_tool()
            .filter(|(t, tool)| is_gateway_target_name(t) && valid_tool_name(tool))
            .ok_or(ToolError::BadToolName)?;
        Ok(Self {
            target: target.to_owned(),
            tool: tool.to_owned(),
            headers: lower_cased(&custom.propagated_headers)?,
            gateway_id: custom.gateway_id,
            mcp_message_id: custom.mcp_message_id,
        })
    }

    /// The runtime session's short hash the agent passed on (`None` from a caller that passes
    /// none); anything not of its form is refused, so nothing else reaches the audit trail.
    pub fn session_hash(&self) -> Result<Option<&str>, ToolError> {
        match self.header(contracts::headers::SESSION_HASH) {
            None => Ok(None),
            Some(h) if tenant_context::is_session_log_id(h) => Ok(Some(h)),
            Some(_) => Err(ToolError::BadClientContext(
                "the session hash is not a session's short hash",
            )),
        }
    }

    /// A propagated header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// The Runtime API delivers the client context as JSON. cargo-lambda's local emulator (1.9)
/// delivers it base64-encoded instead; accept that wrapping too, so `cargo lambda invoke
/// --client-context-file` works locally. The value only ever comes from the Runtime API, and
/// every check below applies to the decoded content either way.
fn parse_context(raw: &str) -> Result<serde_json::Value, ToolError> {
    use base64::Engine as _;
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) {
        return Ok(v);
    }
    base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .filter(serde_json::Value::is_object)
        .ok_or(ToolError::BadClientContext("not JSON"))
}

/// Header names lower-cased. Two spellings of one header with different values would be
/// ambiguous: refused.
fn lower_cased(map: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ToolError> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        if let Some(prev) = out.insert(k.to_ascii_lowercase(), v.clone())
            && prev != *v
        {
            return Err(ToolError::BadClientContext(
                "a propagated header appears twice",
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn ctx(custom: Value) -> String {
        json!({ "custom": custom }).to_string()
    }

    #[test]
    fn reads_the_gateway_shape_with_nested_headers() {
        let raw = ctx(json!({
            "bedrockAgentCoreToolName": "tenantry-basic-tools___patient_context",
            "bedrockAgentCoreGatewayId": "gw-1",
            "bedrockAgentCoreTargetId": "t-1",
            "bedrockAgentCoreMessageVersion": "1.0",
            "bedrockAgentCoreAwsRequestId": "r-1",
            "bedrockAgentCoreMcpMessageId": "m-1",
            "bedrockAgentCorePropagatedHeaders": { "X-Clinic-ID": "clinic-a", "X-Tier": "basic" }
        }));
        let call = GatewayCall::from_client_context(Some(&raw)).unwrap();
        assert_eq!(call.target, "tenantry-basic-tools");
        assert_eq!(call.tool, "patient_context");
        assert_eq!(call.header("x-clinic-id"), Some("clinic-a"));
        assert_eq!(call.header("X-TIER"), Some("basic"));
        assert_eq!(call.gateway_id.as_deref(), Some("gw-1"));
    }

    #[test]
    fn refuses_what_is_not_a_tool_call() {
        // (raw client context, expected error code)
        let cases = [
            (None, "missing_tool_name"),
            (Some(String::new()), "missing_tool_name"),
            (Some("not json".into()), "bad_client_context"),
            (Some(ctx(json!({}))), "missing_tool_name"),
            (
                Some(ctx(json!({"bedrockAgentCoreToolName": 7}))),
                "bad_client_context",
            ),
            (
                Some(ctx(json!({"bedrockAgentCoreToolName": "patient_context"}))),
                "bad_tool_name",
            ),
            (
                Some(ctx(
                    json!({"bedrockAgentCoreToolName": "-bad___patient_context"}),
                )),
                "bad_tool_name",
            ),
            (
                Some(ctx(
                    json!({"bedrockAgentCoreToolName": "t___p", "bedrockAgentCorePropagatedHeaders": {"X-Tier": 1}}),
                )),
                "bad_client_context",
            ),
            (
                Some(ctx(json!({"bedrockAgentCoreToolName": "t___p",
                    "bedrockAgentCorePropagatedHeaders": {"x-tier": "basic", "X-Tier": "premium"}}))),
                "bad_client_context",
            ),
            (Some("x".repeat(9000)), "bad_client_context"),
        ];
        for (raw, code) in cases {
            let err = GatewayCall::from_client_context(raw.as_deref()).unwrap_err();
            assert_eq!(err.code(), code, "{raw:.60?}");
        }
    }

    #[test]
    fn headers_sent_as_a_json_string_are_read_too() {
        let raw = ctx(json!({
            "bedrockAgentCoreToolName": "t___clinic_config",
            "bedrockAgentCorePropagatedHeaders": "{\"X-Tier\":\"premium\"}"
        }));
        let call = GatewayCall::from_client_context(Some(&raw)).unwrap();
        assert_eq!(call.header("x-tier"), Some("premium"));
    }

    #[test]
    fn a_base64_wrapped_context_is_read_as_the_emulator_sends_it() {
        use base64::Engine as _;
        let raw = ctx(json!({
            "bedrockAgentCoreToolName": "t___current_time",
            "bedrockAgentCorePropagatedHeaders": {"X-Tier": "basic"}
        }));
        let wrapped = base64::engine::general_purpose::STANDARD.encode(raw);
        let call = GatewayCall::from_client_context(Some(&wrapped)).unwrap();
        assert_eq!(call.tool, "current_time");
        let not_json = base64::engine::general_purpose::STANDARD.encode("hello");
        assert_eq!(
            GatewayCall::from_client_context(Some(&not_json))
                .unwrap_err()
                .code(),
            "bad_client_context"
        );
    }

    #[test]
    fn target_name_pattern() {
        for ok in ["a", "tenantry-basic-tools", "A1-b2", &"a".repeat(100)] {
            assert!(is_gateway_target_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a--b", "a_b", &"a".repeat(101)] {
            assert!(!is_gateway_target_name(bad), "{bad}");
        }
    }
}
