//! The AgentCore Gateway MCP Lambda target. See the README's tool-target section.

pub mod audit;
pub mod clients;
pub mod clock;
pub mod config;
pub mod data;
pub mod documents;
pub mod error;
pub mod gateway;
pub mod handler;
pub mod page_token;
pub mod runtime;
pub mod tools;
pub mod web_search;

pub use error::ToolError;
pub use gateway::GatewayCall;
pub use runtime::{Invocation, RuntimeLoop};
pub use tools::ToolCall;
