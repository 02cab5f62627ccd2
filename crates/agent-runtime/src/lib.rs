//! The tier's agent for Amazon Bedrock AgentCore Runtime.
//!
//! One deployment per tier. Each invocation: the caller's Cognito ID token verified (the
//! Runtime authorizes only request-proxy's SigV4 signature; the token comes in its allow-listed
//! custom header), its tier checked against this deployment's, the runtime session id checked
//! to belong to the caller, then the tier's model (OpenAI-compatible Chat Completions) with the
//! tier's tools the caller's role may use, from the tier's AgentCore Gateway over MCP (signed
//! with the runtime's role; the caller's token rides along for the tool target). The answer streams as Server-Sent
//! Events or comes back as one JSON reply, and one `inference_usage` line per invocation
//! attributes the tokens to the clinic.

mod admission;
pub mod after_answer;
pub mod agent;
pub mod audit;
pub mod budget;
pub mod config;
pub mod deps;
pub mod error;
pub mod events;
pub mod gateway_auth;
pub mod guardrail;
pub mod health;
pub mod memory;
pub mod model;
pub mod model_stream;
pub mod release;
pub mod server;
pub mod tool_sessions;
pub mod tools;
mod turn;

pub use config::{Config, ConfigError};

/// An AWS SDK error for logs and typed errors: its first line (code and message), at most
/// 200 characters, never a request or response body.
pub(crate) fn brief_sdk_error(e: &(impl std::error::Error + 'static)) -> String {
    telemetry::aws_errors::brief(e)
}
pub use deps::Deps;
pub use health::Health;
pub use server::router;

/// Entry points for the fuzz targets in `dev/fuzz/`, compiled only when fuzzing: the agent's own
/// readings of what callers, the model and the Gateway send it.
#[cfg(fuzzing)]
pub mod fuzzing {
    use serde_json::{Map, Value};

    /// The prompt an invocation body carries, as the server reads it.
    pub fn invocation_prompt(body: &[u8], max_prompt_bytes: usize) -> Option<String> {
        crate::server::parse_body(body, max_prompt_bytes).ok()
    }

    /// A model reply's first choice.
    pub fn completion_from(body: &[u8]) -> Option<crate::model::Completion> {
        crate::model::completion_from(body).ok()
    }

    /// A tool call's argument string as the agent uses it.
    pub fn tool_arguments(raw: &str) -> Option<Map<String, Value>> {
        crate::agent::parse_arguments(raw)
    }

    /// How the agent counts a tool's MCP result.
    pub fn tool_outcome(result: rmcp::model::CallToolResult) -> crate::tools::ToolOutcome {
        crate::tools::outcome_of(result)
    }
}
