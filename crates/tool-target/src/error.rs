//! The tool target's one error type. Every refusal is a JSON reply the model can read,
//! `{"error": {"code", "message"}}`, with a stable code; never a stack trace, a token or
//! another tenant's data.

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("the invocation carries no AgentCore Gateway tool name")]
    MissingToolName,

    #[error("the tool name is not `<target>___<tool>`")]
    BadToolName,

    #[error("the client context is unusable: {0}")]
    BadClientContext(&'static str),

    #[error("unknown tool")]
    UnknownTool,

    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
}

impl ToolError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ToolError::MissingToolName => "missing_tool_name",
            ToolError::BadToolName => "bad_tool_name",
            ToolError::BadClientContext(_) => "bad_client_context",
            ToolError::UnknownTool => "unknown_tool",
            ToolError::InvalidArguments(_) => "invalid_arguments",
        }
    }

    /// The reply body.
    pub fn to_reply(&self) -> Value {
        json!({ "error": { "code": self.code(), "message": self.to_string() } })
    }
}
