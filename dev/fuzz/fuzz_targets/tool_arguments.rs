//! Any tool name and JSON value as a tool call's arguments: parsed or refused with a typed
//! error; never a panic, never a string argument over the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tool_target::tools::ToolCall;

const TOOLS: [&str; 6] = [
    "patient_context",
    "clinic_config",
    "current_time",
    "retrieve_clinic_documents",
    "web_search",
    "drop_tables",
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let tool = TOOLS[usize::from(which) % TOOLS.len()];
    if let Ok(call) = ToolCall::parse(tool, &event) {
        assert_eq!(call.name(), tool);
    }
});
