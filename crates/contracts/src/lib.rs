//! The wire contracts between Tenantry's hops, one definition used by both ends of each:
//!
//! | hop | contract |
//! |---|---|
//! | caller → API Gateway → request-proxy | [`bearer`]: exactly one `Authorization: Bearer` |
//! | request-proxy → Runtime → agent | SigV4 by the proxy's role; the ID token in [`headers::RUNTIME_ID_TOKEN`] |
//! | request-proxy → agent | [`invocation::InvocationBody`], [`headers::RUNTIME_SESSION_ID`] |
//! | agent → Gateway → tool target | [`headers::PROPAGATED`] (the allow-list the template declares) |
//! | Gateway → tool target | [`gateway::ToolCallContext`] (the Lambda client context) |
//! | agent → caller | [`agent_error::AgentErrorCode`] (code, HTTP status, retryable) |
//!
//! Deliberately small and SDK-free: every product crate, the template generator and the
//! emulations can depend on it without pulling anything else in.

pub mod agent_error;
pub mod bearer;
pub mod gateway;
pub mod headers;
pub mod invocation;

pub use agent_error::AgentErrorCode;
pub use bearer::{BearerError, bearer_token, runtime_id_token};
pub use gateway::{ClientContext, ToolCallContext};
pub use invocation::{InvocationBody, ProxyRequest};
