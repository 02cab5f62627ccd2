//! The LOCAL EMULATION of an AgentCore Gateway (one per tier): an MCP streamable-HTTP server on
//! 127.0.0.1 that does what the deployed Gateway is configured to do, in the same order:
//!
//! 1. AWS_IAM inbound authorizer: a SigV4 signature of the one principal the template grants
//!    `bedrock-agentcore:InvokeGateway` on this Gateway (the tier's runtime role; see `iam`),
//!    else HTTP 403 before any MCP processing; a user's Bearer token opens nothing;
//! 2. `tools/list`: the tool target's inline schema (`infra/gateway/tool-target-schema.json`)
//!    restricted to the tier's tools, named `<TargetName>___<tool>`;
//! 3. every `tools/call` evaluated by the shipped Cedar policies (`gateway-policy`, ENFORCE: a
//!    denial never reaches the target), principal `AgentCore::IamEntity` with the caller's ARN;
//! 4. the target invoked as Lambda with the arguments as the event and the client context
//!    AgentCore sends (`bedrockAgentCoreToolName`, ..., and the allow-listed headers as a
//!    nested `bedrockAgentCorePropagatedHeaders` object).
//!
//! Known differences from AWS: how AgentCore shapes a policy denial on the wire is not
//! documented (here: a JSON-RPC error); no semantic tool search; no SigV4 to the target.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use contracts::gateway::ToolCallContext;
// Headers the Gateway target allow-lists (the template's list).
use contracts::headers::PROPAGATED as PROPAGATED_HEADERS;
use gateway_policy::GatewayPolicy;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode, ErrorData,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tenant_context::{TierCatalog, TierName};

use crate::iam::{LocalPrincipal, SigV4Check};

/// The tool target's inline Gateway schema, as the template deploys it.
pub const TOOL_SCHEMA: &str = include_str!("../../../infra/gateway/tool-target-schema.json");

/// One invocation of the target, as the Lambda service would deliver it.
#[derive(Debug, Clone)]
pub struct TargetCall {
    /// The event: the tool arguments.
    pub arguments: Value,
    /// `clientContext.custom`.
    pub client_context: ToolCallContext,
}

pub type BackendFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;

/// Where the Gateway sends a permitted call (the tool target).
pub trait ToolBackend: Send + Sync + 'static {
    fn invoke(&self, call: TargetCall) -> BackendFuture;
}

impl<F> ToolBackend for F
where
    F: Fn(TargetCall) -> BackendFuture + Send + Sync + 'static,
{
    fn invoke(&self, call: TargetCall) -> BackendFuture {
        self(call)
    }
}

/// What the emulation saw, for tests: every call that reached the policy decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub action: String,
    pub clinic_id: String,
    pub permitted: bool,
}

struct Inner {
    tier: TierName,
    target: String,
    gateway_arn: String,
    tools: Vec<Tool>,
    iam: SigV4Check,
    policy: GatewayPolicy,
    backend: Arc<dyn ToolBackend>,
    decisions: Mutex<Vec<Decision>>,
    /// tools/list requests answered: one per MCP session a client opens.
    listings: std::sync::atomic::AtomicUsize,
}

#[derive(Clone)]
struct Handler(Arc<Inner>);

/// A running Gateway emulation; dropping it stops the server.
pub struct GatewayEmulation {
    addr: SocketAddr,
    inner: Arc<Inner>,
    _server: crate::ServerTask,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayEmulationError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tenant(#[from] tenant_context::Error),
    #[error(transparent)]
    Policy(#[from] gateway_policy::PolicyError),
    #[error("the tool schema file is not a list of tools: {0}")]
    Schema(String),
}

fn tier_tools(catalog: &TierCatalog, tier: &TierName) -> Result<Vec<Tool>, GatewayEmulationError> {
    let config = catalog.config(tier)?;
    let schema: Vec<Value> = serde_json::from_str(TOOL_SCHEMA)
        .map_err(|e| GatewayEmulationError::Schema(e.to_string()))?;
    let mut tools = Vec::new();
    for entry in schema {
        let name = entry["name"].as_str().unwrap_or_default();
        if !config.allows_tool(name) {
            continue;
        }
        let input = match &entry["inputSchema"] {
            Value::Object(m) => m.clone(),
            _ => {
                return Err(GatewayEmulationError::Schema(format!(
                    "{name}: no inputSchema"
                )));
            }
        };
        tools.push(Tool::new(
            format!("{}___{name}", config.gateway_target),
            entry["description"].as_str().unwrap_or_default().to_owned(),
            Arc::new(input),
        ));
    }
    Ok(tools)
}

impl GatewayEmulation {
    /// Starts the emulation of `tier`'s Gateway on 127.0.0.1:`port` (0: any free port). Its
    /// only caller is `LocalPrincipal::runtime(tier)`, as the template grants.
    pub async fn start(
        tier: TierName,
        catalog: &TierCatalog,
        backend: Arc<dyn ToolBackend>,
        port: u16,
    ) -> Result<Self, GatewayEmulationError> {
        let config = catalog.config(&tier)?;
        let gateway_arn = format!(
            "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/local-{}",
            tier.as_str()
        );
        let caller = LocalPrincipal::runtime(tier.as_str());
        // This Gateway's ARN and its runtime role in its tier's policies, as the deployment
        // fills them in.
        let policy = GatewayPolicy::for_gateways(&[gateway_policy::Deployed {
            tier: tier.as_str(),
            gateway_arn: &gateway_arn,
            runtime_role: caller.role_name(),
        }])?;
        let tiers: Vec<&str> = catalog.iter().map(|(t, _)| t.as_str()).collect();
        let iam = SigV4Check::new(
            "bedrock-agentcore",
            testkit::STANDIN_REGION,
            std::slice::from_ref(&caller),
            &tiers,
        );
        let inner = Arc::new(Inner {
            target: config.gateway_target.clone(),
            gateway_arn,
            tools: tier_tools(catalog, &tier)?,
            tier,
            iam,
            policy,
            backend,
            decisions: Mutex::new(Vec::new()),
            listings: std::sync::atomic::AtomicUsize::new(0),
        });
        let handler = Handler(inner.clone());
        let mcp = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().with_sse_keep_alive(None),
        );
        // Layers run outside in: the authorizer first, then the JSON-RPC framing check.
        let app = axum::Router::new()
            .nest_service("/mcp", mcp)
            .layer(middleware::from_fn(json_rpc_framing))
            .layer(middleware::from_fn_with_state(inner.clone(), authorize));
        let (addr, server) = crate::serve_local(app, port).await?;
        Ok(Self {
            addr,
            inner,
            _server: server,
        })
    }

    /// The MCP endpoint, as the deployed Gateway's `.../mcp`.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    pub fn tier(&self) -> &TierName {
        &self.inner.tier
    }

    /// How many tool listings this Gateway answered (a client lists once per MCP session).
    pub fn tool_listings(&self) -> usize {
        self.inner
            .listings
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn decisions(&self) -> Vec<Decision> {
        self.inner
            .decisions
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

/// The AWS_IAM authorizer: 403 unless the request is signed by the tier's runtime role. The
/// caller travels to the MCP handler in the request's extensions.
async fn authorize(State(inner): State<Arc<Inner>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return json_rpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, "Request too large");
    };
    match inner
        .iam
        .check(&parts.method, &parts.uri, &parts.headers, &bytes)
    {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(refusal) => (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"__type": refusal.code(), "message": refusal.to_string()})),
        )
            .into_response(),
    }
}

/// The largest request body the emulation reads (a tool call's arguments; Lambda's
/// synchronous payload limit is 6 MB).
const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// A POST body that is not a JSON-RPC 2.0 message gets a JSON-RPC error (HTTP 400), as an MCP
/// server answers it, before the MCP layer sees it: -32700 for bytes that are not JSON, -32600
/// for JSON that is not a request or notification. Too large: 413.
async fn json_rpc_framing(req: Request, next: Next) -> Response {
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return json_rpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, "Request too large");
    };
    let valid = |m: &Value| {
        m["jsonrpc"] == "2.0"
            && (m["method"].is_string() || m.get("result").is_some() || m.get("error").is_some())
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Err(_) => json_rpc_error(StatusCode::BAD_REQUEST, -32700, "Parse error"),
        Ok(Value::Array(batch)) if batch.is_empty() || !batch.iter().all(valid) => {
            json_rpc_error(StatusCode::BAD_REQUEST, -32600, "Invalid Request")
        }
        Ok(Value::Array(_)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Ok(m) if !valid(&m) => json_rpc_error(StatusCode::BAD_REQUEST, -32600, "Invalid Request"),
        Ok(_) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
    }
}

fn json_rpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}),
        ),
    )
        .into_response()
}

fn mcp_error(code: ErrorCode, message: &'static str) -> ErrorData {
    ErrorData::new(code, message, None)
}

impl Handler {
    fn caller(
        context: &RequestContext<RoleServer>,
    ) -> Option<(LocalPrincipal, BTreeMap<String, String>)> {
        let parts = context.extensions.get::<http::request::Parts>()?;
        let caller = parts.extensions.get::<LocalPrincipal>()?.clone();
        // The allow-listed headers, nested, as AgentCore propagates them.
        let headers = PROPAGATED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect();
        Some((caller, headers))
    }
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.0
            .listings
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(ListToolsResult::with_all_items(self.0.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(request, context)
            .await
            .map(CallToolResponse::Complete)
    }
}

impl Handler {
    async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let inner = &self.0;
        let Some((caller, headers)) = Self::caller(&context) else {
            return Err(mcp_error(ErrorCode::INVALID_REQUEST, "unauthenticated"));
        };
        let action = request.name.to_string();
        if !inner.tools.iter().any(|t| t.name == action) {
            return Err(mcp_error(ErrorCode::INVALID_PARAMS, "unknown tool"));
        }
        let input = Value::Object(request.arguments.clone().unwrap_or_default());
        let permitted = inner
            .policy
            .permits(&gateway_policy::ToolCall {
                principal_arn: &caller.arn,
                action: &action,
                gateway_arn: &inner.gateway_arn,
                input: &input,
            })
            .unwrap_or(false);
        if let Ok(mut d) = inner.decisions.lock() {
            d.push(Decision {
                action: action.clone(),
                // As the agent asserts it (the tool target checks it against the token).
                clinic_id: headers
                    .get(contracts::headers::CLINIC_ID)
                    .cloned()
                    .unwrap_or_default(),
                permitted,
            });
        }
        if !permitted {
            return Err(mcp_error(
                ErrorCode::INVALID_REQUEST,
                "Tool call denied by the gateway's policy",
            ));
        }
        let client_context = ToolCallContext {
            tool_name: action.clone(),
            gateway_id: Some(format!("local-{}", inner.tier)),
            target_id: Some(inner.target.clone()),
            message_version: Some(contracts::gateway::MESSAGE_VERSION.to_owned()),
            aws_request_id: Some(format!("local-{}", context.id)),
            mcp_message_id: Some(context.id.to_string()),
            propagated_headers: headers,
        };
        match inner
            .backend
            .invoke(TargetCall {
                arguments: input,
                client_context,
            })
            .await
        {
            Ok(reply) => Ok(CallToolResult::success(vec![ContentBlock::text(
                reply.to_string(),
            )])),
            Err(e) => {
                tracing::warn!(error = %e, "Gateway emulation: target invocation failed");
                Ok(CallToolResult::error(vec![ContentBlock::text(
                    json!({"error": "target_failed", "message": "The tool target failed."})
                        .to_string(),
                )]))
            }
        }
    }
}

/// The tool target as the deployed Gateway reaches it: a Lambda Invoke (here against the
/// Lambda stand-in) with the arguments as the payload and `{"custom": ...}` as the client
/// context.
pub struct LambdaBackend {
    pub client: aws_sdk_lambda::Client,
    pub function: String,
}

impl ToolBackend for LambdaBackend {
    fn invoke(&self, call: TargetCall) -> BackendFuture {
        use base64::Engine as _;
        let client = self.client.clone();
        let function = self.function.clone();
        Box::pin(async move {
            let raw_context = call.client_context.to_client_context();
            // The Invoke API takes the client context base64-encoded (X-Amz-Client-Context).
            let out = client
                .invoke()
                .function_name(function)
                .client_context(base64::engine::general_purpose::STANDARD.encode(&raw_context))
                .payload(aws_sdk_lambda::primitives::Blob::new(
                    call.arguments.to_string(),
                ))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "Lambda Invoke failed: {}",
                        aws_sdk_lambda::error::DisplayErrorContext(&e)
                    )
                })?;
            let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
            if out.function_error().is_some() {
                return Err(format!(
                    "the function failed: {}",
                    String::from_utf8_lossy(body)
                ));
            }
            serde_json::from_slice(body).map_err(|e| format!("the reply is not JSON: {e}"))
        })
    }
}
