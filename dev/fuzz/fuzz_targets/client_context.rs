//! Any string as the Lambda client context of a Gateway call: a typed refusal or a call whose
//! tool name is well formed; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tool_target::gateway::GatewayCall;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(call) = GatewayCall::from_client_context(Some(raw)) {
        assert!(!call.tool.is_empty() && !call.tool.contains("___"), "{}", call.tool);
    }
});
