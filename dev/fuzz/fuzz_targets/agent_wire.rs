//! What reaches agent-runtime from outside, and the event stream it writes back. The first
//! byte picks the reading; each asserts a property, not only the absence of panics:
//!
//! 0. An invocation body (the Runtime is called with the caller's JSON): a prompt is accepted
//!    only as the body's own non-empty `prompt` string, within the size limit.
//! 1. A JSON-RPC message from the Gateway, read by rmcp as the agent's MCP client does; a
//!    `tools/call` result is counted `Ok` only when neither the Gateway nor the tool marked it
//!    as an error.
//! 2. A Chat Completions reply from the model (trusted for nothing): parsed or `BadResponse`;
//!    a tool call's arguments are used only as a JSON object.
//! 3. The SSE framing of the agent's events around any text (the model's answer can say
//!    anything, an injected `\n\ndata: ...` included): exactly one frame, whose data is the
//!    event and the same text.
#![no_main]

use agent_runtime::events::AgentEvent;
use agent_runtime::fuzzing::{completion_from, invocation_prompt, tool_arguments, tool_outcome};
use agent_runtime::tools::ToolStatus;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const MAX_PROMPT_BYTES: usize = 4096;

fn invocation(data: &[u8]) {
    let Some(prompt) = invocation_prompt(data, MAX_PROMPT_BYTES) else {
        return;
    };
    assert!(!prompt.trim().is_empty(), "an empty prompt was accepted");
    assert!(prompt.len() <= MAX_PROMPT_BYTES, "an oversized prompt was accepted");
    let body: Value = serde_json::from_slice(data).expect("an accepted body is JSON");
    let fields = body.as_object().expect("an accepted body is an object");
    assert_eq!(fields.len(), 1, "fields besides the prompt were accepted: {body}");
    assert_eq!(fields["prompt"].as_str(), Some(prompt.as_str()));
}

fn gateway(data: &[u8]) {
    let _ = serde_json::from_slice::<rmcp::model::ServerJsonRpcMessage>(data);
    let Ok(message) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    // A bare result, or one inside its JSON-RPC response.
    for candidate in [Some(&message), message.get("result")].into_iter().flatten() {
        let Ok(result) = serde_json::from_value::<rmcp::model::CallToolResult>(candidate.clone())
        else {
            continue;
        };
        let marked = result.is_error == Some(true);
        let outcome = tool_outcome(result);
        if marked {
            assert_ne!(outcome.status, ToolStatus::Ok, "an error result counted as Ok");
        }
        if serde_json::from_str::<Value>(&outcome.text)
            .ok()
            .is_some_and(|v| v.get("error").is_some())
        {
            assert_ne!(outcome.status, ToolStatus::Ok, "an error reply counted as Ok");
        }
    }
}

fn model(data: &[u8]) {
    let Some(completion) = completion_from(data) else {
        return;
    };
    assert!(completion.text.as_deref() != Some(""), "an empty answer kept as text");
    for call in &completion.tool_calls {
        let raw = call.function.arguments.trim();
        if tool_arguments(raw).is_some() {
            assert!(
                raw.is_empty() || serde_json::from_str::<Value>(raw).is_ok_and(|v| v.is_object()),
                "arguments used that are not a JSON object: {raw}"
            );
        }
    }
}

fn framing(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    for event in [
        AgentEvent::TextDelta { text: text.clone() },
        AgentEvent::ToolStart { tool: text.clone() },
        AgentEvent::failure(contracts::AgentErrorCode::Internal, text.clone()),
    ] {
        let frame = event.to_sse();
        let data = frame
            .strip_prefix("data: ")
            .and_then(|f| f.strip_suffix("\n\n"))
            .expect("a frame is `data: ...` and a blank line");
        assert!(
            !data.contains('\n') && !data.contains('\r'),
            "a line break inside a frame's data: {frame:?}"
        );
        let parsed: Value = serde_json::from_str(data).expect("a frame's data is JSON");
        assert_eq!(parsed, serde_json::from_str::<Value>(&event.to_json()).expect("JSON"));
        let carried = parsed
            .get("text")
            .or_else(|| parsed.get("tool"))
            .or_else(|| parsed.get("message"))
            .and_then(Value::as_str);
        assert_eq!(carried, Some(text.as_str()));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => invocation(rest),
        1 => gateway(rest),
        2 => model(rest),
        _ => framing(rest),
    }
});
