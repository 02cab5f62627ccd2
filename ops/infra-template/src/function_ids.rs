//! The stack's functions as data: their ids (and the logical ids derived from them), names,
//! crates and sizes. What each function is given (environment, permissions) is rendered in
//! `functions.rs`.

use serde_json::Value;

use crate::cfn::{get_att, sub};

/// The stack's functions. Every match on them is exhaustive, so a function added here cannot
/// be rendered without its environment and permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionId {
    TokenVending,
    MemoryVending,
    ToolTarget,
    TenantAuthorizer,
    RequestProxy,
    PreToken,
}

impl FunctionId {
    /// The stem of its logical ids: `<stem>Function`, `<stem>Role`, `<stem>CodeKey`,
    /// `<stem>CodeVersion`, ...
    pub const fn stem(self) -> &'static str {
        match self {
            FunctionId::TokenVending => "TokenVending",
            FunctionId::MemoryVending => "MemoryVending",
            FunctionId::ToolTarget => "ToolTarget",
            FunctionId::TenantAuthorizer => "TenantAuthorizer",
            FunctionId::RequestProxy => "RequestProxy",
            FunctionId::PreToken => "PreToken",
        }
    }
    /// The `AWS::Lambda::Function`'s logical id.
    pub fn function(self) -> String {
        format!("{}Function", self.stem())
    }
    pub fn role(self) -> String {
        format!("{}Role", self.stem())
    }
    pub fn log_group(self) -> String {
        format!("{}LogGroup", self.stem())
    }
    /// The template parameter holding its package's S3 key.
    pub fn code_key(self) -> String {
        format!("{}CodeKey", self.stem())
    }
    /// The template parameter holding its package's S3 object version.
    pub fn code_version(self) -> String {
        format!("{}CodeVersion", self.stem())
    }
    /// `GetAtt <stem>Function.Arn`.
    pub fn arn(self) -> Value {
        get_att(&self.function(), "Arn")
    }
    /// The same ARN spelled from the function's name, for the function's own role: a `GetAtt`
    /// there would make the role depend on the function that depends on the role.
    pub fn arn_by_name(self) -> Value {
        let name = FUNCTIONS
            .iter()
            .find(|f| f.id == self)
            .map(|f| f.name)
            .unwrap_or_default();
        sub(&format!(
            "arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:${{NamePrefix}}-{name}"
        ))
    }
}

/// Every function's instruction set (Lambda's `Architectures`).
pub const ARCHITECTURE: &str = "arm64";

/// One deployed function.
pub struct Function {
    pub id: FunctionId,
    /// The deployed name: `<NamePrefix>-<name>`.
    pub name: &'static str,
    /// The workspace crate (and cargo-lambda binary) it is built from.
    pub crate_name: &'static str,
    pub memory_mb: u32,
    pub timeout_secs: u32,
    /// Reached without the front door (so no usage plan bounds it): its concurrency is
    /// reserved, and so capped, by the `ReservedConcurrency` parameter.
    pub behind_the_agents: bool,
}

pub const FUNCTIONS: [Function; 6] = [
    Function {
        id: FunctionId::TokenVending,
        name: "token-vending",
        crate_name: "token-vending",
        memory_mb: 256,
        timeout_secs: 10,
        behind_the_agents: true,
    },
    Function {
        id: FunctionId::MemoryVending,
        name: "memory-vending",
        crate_name: "token-vending",
        memory_mb: 256,
        timeout_secs: 10,
        behind_the_agents: true,
    },
    Function {
        id: FunctionId::ToolTarget,
        name: "tool-target",
        crate_name: "tool-target",
        memory_mb: 256,
        timeout_secs: 30,
        behind_the_agents: true,
    },
    Function {
        id: FunctionId::TenantAuthorizer,
        name: "tenant-authorizer",
        crate_name: "tenant-authorizer",
        memory_mb: 256,
        timeout_secs: 10,
        behind_the_agents: false,
    },
    Function {
        id: FunctionId::RequestProxy,
        name: "request-proxy",
        crate_name: "request-proxy",
        memory_mb: 256,
        // The API streams its answer (response transfer mode STREAM), which lifts API
        // Gateway's 29 s integration limit: the agent's whole turn (120 s by default) fits.
        timeout_secs: STREAM_TIMEOUT_SECS,
        behind_the_agents: false,
    },
    Function {
        id: FunctionId::PreToken,
        name: "pre-token",
        crate_name: "pre-token",
        memory_mb: 128,
        // Cognito waits 5 s for a trigger.
        timeout_secs: 5,
        behind_the_agents: false,
    },
];

/// How long a streamed answer may take end to end: request-proxy's timeout and API Gateway's
/// integration timeout (streaming integrations may take up to 15 minutes).
pub const STREAM_TIMEOUT_SECS: u32 = 180;

/// The prefix of the per-tier document buckets: `<prefix><tier>`.
pub fn document_bucket_prefix() -> Value {
    sub("${NamePrefix}-docs-${AWS::AccountId}-${AWS::Region}-")
}
