//! What an invocation tells its caller, streamed as Server-Sent Events or collected into one
//! JSON reply. Tool events name the tool only: never its arguments or results (patient data).

use contracts::AgentErrorCode;
use serde::Serialize;

use crate::tools::ToolStatus;

/// The caller's view of the invocation's usage line (without the tenant, which is theirs).
pub type UsageSummary = tenant_context::Usage;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model answered.
    Answered,
    /// The cap on model rounds was reached before an answer.
    MaxRounds,
    /// The cap on tokens per request was reached before an answer.
    TokenBudget,
    /// The guardrail blocked the prompt or replaced (blocked or masked) the answer.
    GuardrailIntervened,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Used,
    /// Not configured for this deployment.
    Off,
    /// Configured but failed; the answer was served without it (the failure is logged).
    Skipped,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    TextDelta {
        text: String,
    },
    ToolStart {
        tool: String,
    },
    ToolEnd {
        tool: String,
        status: ToolStatus,
    },
    /// The turn's outcome, after its last text.
    Final(Outcome),
    /// The invocation failed after it started; the Python SDK's shape (`error`, `error_type`,
    /// `message`) with our stable code in `error`.
    Error {
        error: AgentErrorCode,
        error_type: &'static str,
        message: String,
        retryable: bool,
    },
}

impl AgentEvent {
    /// A closing error event; its kind and retry hint follow from the code.
    pub fn failure(code: AgentErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            error: code,
            error_type: code.error_type(),
            message: message.into(),
            retryable: code.retryable(),
        }
    }

    /// `final` or `error`: the event a turn's reply ends with.
    pub fn is_closing(&self) -> bool {
        matches!(self, Self::Final(_) | Self::Error { .. })
    }

    /// One SSE frame: `data: <json>\n\n`.
    pub fn to_sse(&self) -> String {
        format!("data: {}\n\n", self.to_json())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","error":"internal","error_type":"Internal","message":"event could not be encoded","retryable":true}"#.into()
        })
    }
}

/// How a turn ended and what served it: the `final` event, and the tail of a JSON reply.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outcome {
    pub stop_reason: StopReason,
    pub rounds: u32,
    pub usage: UsageSummary,
    pub tools: Availability,
    pub memory: Availability,
    pub guardrail: Availability,
}

/// The non-streaming reply: the whole answer and what happened on the way.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JsonReply {
    pub answer: String,
    pub tool_calls: Vec<ToolTrace>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolTrace {
    pub tool: String,
    pub status: ToolStatus,
}

impl JsonReply {
    /// Folds a finished event sequence into one reply; `Err` is the error event, if any.
    pub fn collect(events: Vec<AgentEvent>) -> Result<Self, AgentEvent> {
        let mut answer = String::new();
        let mut tool_calls = Vec::new();
        for event in events {
            match event {
                AgentEvent::TextDelta { text } => answer.push_str(&text),
                AgentEvent::ToolStart { .. } => {}
                AgentEvent::ToolEnd { tool, status } => tool_calls.push(ToolTrace { tool, status }),
                e @ AgentEvent::Error { .. } => return Err(e),
                AgentEvent::Final(outcome) => {
                    return Ok(Self {
                        answer,
                        tool_calls,
                        outcome,
                    });
                }
            }
        }
        Err(AgentEvent::failure(
            AgentErrorCode::Internal,
            "the invocation ended without an answer",
        ))
    }
}
