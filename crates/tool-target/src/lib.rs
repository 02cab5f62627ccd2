//! The AgentCore Gateway MCP Lambda target. See the README's tool-target section.

pub mod error;
pub mod gateway;
pub mod runtime;
pub mod tools;

pub use error::ToolError;
pub use gateway::GatewayCall;
pub use runtime::{Invocation, RuntimeLoop};
pub use tools::ToolCall;
