//! The tools the model may call, and the AgentCore Gateway that serves them over MCP.
//!
//! The model sees exactly the tier's tools from the tier file, under their plain names; the
//! Gateway names them `<TargetName>___<tool>`. Anything else the Gateway lists (another
//! target, the Gateway's own search tool) is never offered. A tool failure, a Cedar denial
//! or an unreachable Gateway becomes a tool result the model can explain, never a crash.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tenant_context::{RuntimeSessionId, TenantContext, TierCatalog, TierConfig, session_log_id};

use crate::gateway_auth::LiveHeaders;
pub use crate::gateway_auth::SignedGatewayClient;

use contracts::headers;

use crate::model::{FunctionSpec, ToolSpec};

/// The MCP version spoken to the Gateway: one AgentCore Gateway supports, pinned rather than
/// the crate's newest (a Gateway accepts only the versions listed in its configuration).
pub const MCP_PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion::V_2025_06_18;
/// The Gateway's separator between target name and tool name.
use contracts::gateway::TOOL_SEPARATOR as TOOL_NAME_SEPARATOR;

/// The code the model reads when the Gateway's policy refused a call.
pub const DENIED_BY_POLICY: &str = "denied_by_policy";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Ok,
    /// The tool ran and reported an error (bad argument, not found, outside hours, ...).
    Error,
    /// The Gateway's policy engine refused the call.
    Denied,
    /// The Gateway could not be reached or failed.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    pub status: ToolStatus,
    /// What the model reads: the tool's JSON reply, or a JSON error it can explain.
    pub text: String,
}

impl ToolOutcome {
    fn failure(status: ToolStatus, code: &str, message: &str) -> Self {
        Self {
            status,
            text: json!({ "error": code, "message": message }).to_string(),
        }
    }
}

/// Tools for one invocation, already bound to the caller's identity.
pub trait Toolbox: Send + Sync {
    /// What the model is offered.
    fn specs(&self) -> &[ToolSpec];
    /// Calls a tool by its plain name.
    fn call(
        &self,
        tool: &str,
        args: Map<String, Value>,
    ) -> impl Future<Output = ToolOutcome> + Send;
}

/// No tools (the Gateway was unreachable at the start of the invocation).
pub struct NoTools;

impl Toolbox for NoTools {
    fn specs(&self) -> &[ToolSpec] {
        &[]
    }
    async fn call(&self, _tool: &str, _args: Map<String, Value>) -> ToolOutcome {
        ToolOutcome::failure(
            ToolStatus::Unavailable,
            "tools_unavailable",
            "No tools are available right now.",
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the Gateway refused the caller's token")]
    Unauthorized,
    #[error("the Gateway could not be reached or did not complete the MCP handshake")]
    Unreachable,
    #[error("a tenant header could not be formed")]
    BadHeader,
}

/// The tier's Gateway: where it is and which of its tools the tier may see.
#[derive(Debug, Clone)]
pub struct Gateway {
    client: SignedGatewayClient,
    url: String,
    target: String,
    tools: Vec<String>,
    timeout: Duration,
}

impl Gateway {
    /// `client` signs every request with the runtime's role (the Gateway is on IAM inbound
    /// auth; see `gateway_auth`).
    pub fn new(client: SignedGatewayClient, url: String, tier: &TierConfig) -> Self {
        Self {
            client,
            url,
            target: tier.gateway_target.clone(),
            tools: tier.tools.clone(),
            timeout: Duration::from_secs(30),
        }
    }

    /// An MCP session on the Gateway: signed with the runtime's role for the Gateway's IAM
    /// authorizer, and carrying for the tool target the caller's ID token (`X-Id-Token`,
    /// which the target verifies itself) with the tenant headers derived from the verified
    /// context (both replaced at each invocation by [`GatewaySession::bind`]). Only the tools
    /// the caller's role may use (`catalog`) are offered; the tool target enforces the same
    /// rule from the token.
    pub async fn connect(
        &self,
        id_token: &str,
        ctx: &TenantContext,
        session: &RuntimeSessionId,
        catalog: &TierCatalog,
    ) -> Result<GatewaySession, GatewayError> {
        let live = LiveHeaders::default();
        live.set(caller_headers(id_token, ctx, session)?);
        let transport = StreamableHttpClientTransport::with_client(
            self.client.with_live_headers(live.clone()),
            StreamableHttpClientTransportConfig::with_uri(self.url.clone()),
        );
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("tenantry-agent-runtime", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(MCP_PROTOCOL_VERSION);
        let client = tokio::time::timeout(self.timeout, info.serve(transport))
            .await
            .map_err(|_| GatewayError::Unreachable)?
            .map_err(|e| {
                let text = e.to_string();
                if text.contains("401") || text.contains("403") || text.contains("nauthori") {
                    GatewayError::Unauthorized
                } else {
                    tracing::warn!(error = %text, "MCP handshake with the Gateway failed");
                    GatewayError::Unreachable
                }
            })?;
        let listed = tokio::time::timeout(self.timeout, client.list_all_tools())
            .await
            .map_err(|_| GatewayError::Unreachable)?
            .map_err(|e| {
                tracing::warn!(error = %e, "tools/list on the Gateway failed");
                GatewayError::Unreachable
            })?;
        let specs = listed
            .into_iter()
            .filter_map(|tool| {
                let plain = self
                    .plain_name(&tool.name)
                    .filter(|t| catalog.role_allows(ctx.role(), t))?;
                Some(ToolSpec {
                    kind: "function",
                    function: FunctionSpec {
                        name: plain.to_owned(),
                        description: tool.description.as_deref().unwrap_or_default().to_owned(),
                        parameters: Value::Object((*tool.input_schema).clone()),
                    },
                })
            })
            .collect();
        Ok(GatewaySession {
            client,
            specs,
            live,
            target: self.target.clone(),
            timeout: self.timeout,
        })
    }

    /// `tool` for `<own target>___<tool>` when `tool` is one of the tier's; else nothing.
    fn plain_name<'a>(&self, listed: &'a str) -> Option<&'a str> {
        let (target, tool) = listed.split_once(TOOL_NAME_SEPARATOR)?;
        (target == self.target && self.tools.iter().any(|t| t == tool)).then_some(tool)
    }
}

/// The caller's token and the tenant headers of its verified context, as the tool target
/// reads them.
fn caller_headers(
    id_token: &str,
    ctx: &TenantContext,
    session: &RuntimeSessionId,
) -> Result<HashMap<HeaderName, HeaderValue>, GatewayError> {
    let mut headers = HashMap::new();
    let mut add = |name: &str, value: &str| -> Result<(), GatewayError> {
        headers.insert(
            HeaderName::try_from(name).map_err(|_| GatewayError::BadHeader)?,
            HeaderValue::try_from(value).map_err(|_| GatewayError::BadHeader)?,
        );
        Ok(())
    };
    add(headers::ID_TOKEN, id_token)?;
    for (name, value) in ctx.tenant_headers() {
        add(name, &value)?;
    }
    // The tool target's audit events name the conversation as the agent's do.
    add(headers::SESSION_HASH, &session_log_id(session))?;
    Ok(headers)
}

pub struct GatewaySession {
    client: RunningService<RoleClient, ClientConfig>,
    specs: Vec<ToolSpec>,
    /// The caller's token and tenant headers, sent with every request of the session.
    live: LiveHeaders,
    target: String,
    timeout: Duration,
}

impl GatewaySession {
    pub async fn close(self) {
        let _ = self.client.cancel().await;
    }

    /// The session's requests carry `id_token` and `ctx`'s headers from now on. The session
    /// must be `ctx`'s own (see `tool_sessions`): its tool list was filtered for that role.
    pub fn bind(
        &self,
        id_token: &str,
        ctx: &TenantContext,
        session: &RuntimeSessionId,
    ) -> Result<(), GatewayError> {
        self.live.set(caller_headers(id_token, ctx, session)?);
        Ok(())
    }

    /// Whether the session's connection ended (the Gateway closed it, or it failed).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl Toolbox for GatewaySession {
    fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    async fn call(&self, tool: &str, args: Map<String, Value>) -> ToolOutcome {
        if !self.specs.iter().any(|s| s.function.name == tool) {
            return ToolOutcome::failure(
                ToolStatus::Error,
                "unknown_tool",
                "That tool is not available to this clinic.",
            );
        }
        let name = format!("{}{TOOL_NAME_SEPARATOR}{tool}", self.target);
        let call = self
            .client
            .call_tool(CallToolRequestParams::new(name).with_arguments(args));
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => ToolOutcome::failure(
                ToolStatus::Unavailable,
                "tool_timeout",
                "The tool did not answer in time.",
            ),
            Ok(Err(rmcp::ServiceError::McpError(e))) => {
                // A policy denial may come back as a JSON-RPC error (how AgentCore shapes it
                // is not documented): tell the model it was refused, without internals.
                tracing::info!(tool, code = ?e.code, "tool call refused by the Gateway");
                ToolOutcome::failure(
                    ToolStatus::Denied,
                    DENIED_BY_POLICY,
                    "The clinic's access policy does not allow this tool call now.",
                )
            }
            Ok(Err(e)) => {
                tracing::warn!(tool, error = %e, "tool call failed at the Gateway");
                ToolOutcome::failure(
                    ToolStatus::Unavailable,
                    "tool_unavailable",
                    "The tool could not be reached.",
                )
            }
            Ok(Ok(result)) => outcome_of(result),
        }
    }
}

/// What the model reads of a tool's MCP result, and how the turn counts it. A result the
/// Gateway or the tool marks as an error, or a JSON reply carrying an `error`, is never `Ok`.
pub(crate) fn outcome_of(result: CallToolResult) -> ToolOutcome {
    let text: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    let text = if text.is_empty() {
        result
            .structured_content
            .map(|v| v.to_string())
            .unwrap_or_else(|| "{}".into())
    } else {
        text.join("\n")
    };
    let status = if result.is_error == Some(true) {
        // The Gateway's policy engine or the tool itself; the tool target's own
        // errors are JSON with an `error` code the model can read either way.
        if text.contains("denied") || text.contains("not authorized") {
            ToolStatus::Denied
        } else {
            ToolStatus::Error
        }
    } else if serde_json::from_str::<Value>(&text)
        .ok()
        .is_some_and(|v| v.get("error").is_some())
    {
        ToolStatus::Error
    } else {
        ToolStatus::Ok
    };
    ToolOutcome { status, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_context::TierCatalog;

    #[test]
    fn only_the_tiers_own_tools_are_offered() {
        let cat = TierCatalog::embedded().unwrap();
        let basic = cat.config(&cat.tier("basic").unwrap()).unwrap();
        let premium = cat.config(&cat.tier("premium").unwrap()).unwrap();
        let role = request_signing::RoleCredentials::new(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test"),
            ),
            "us-east-1",
        );
        let gw = Gateway::new(
            SignedGatewayClient::new(reqwest::Client::new(), role),
            "http://127.0.0.1:1/mcp".into(),
            basic,
        );
        let own = &basic.gateway_target;
        assert_eq!(
            gw.plain_name(&format!("{own}___patient_context")),
            Some("patient_context")
        );
        for foreign in [
            format!("{}___patient_context", premium.gateway_target),
            format!("{own}___web_search"),
            "x_amz_bedrock_agentcore_search".to_owned(),
            format!("{own}__patient_context"),
            format!("{own}___patient_context___x"),
        ] {
            assert_eq!(gw.plain_name(&foreign), None, "{foreign}");
        }
    }
}
