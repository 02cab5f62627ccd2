//! What each deployed component reads from SSM when it starts, recorded on its resource as
//! `Metadata.StartupParameters` (`[{Variable, Parameter, Required}]`). The create-order check
//! (`scripts/conformance/create_order.py`) compares it with the deployment's steps: a
//! parameter a component needs must exist before the component can start.

use secret_config::SecretVars;
use serde_json::{Map, Value, json};

/// Every deployment value a component reads from SSM at start-up (their `*_PARAMETER`
/// variables). A test holds that no component is given a `*_PARAMETER` variable missing here.
pub const STARTUP_PARAMETERS: [SecretVars; 4] = [
    agent_runtime::config::SESSION_KEY_VARS,
    agent_runtime::config::BEDROCK_PROJECT_VARS,
    request_proxy::config::SESSION_KEY_VARS,
    tool_target::config::PAGE_TOKEN_KEY_VARS,
];

/// The start-up parameters among `env`, for the resource's metadata.
pub fn parameters(env: &Map<String, Value>) -> Value {
    let mut out = Vec::new();
    for (variable, value) in env {
        if let Some(vars) = STARTUP_PARAMETERS.iter().find(|v| v.parameter == variable) {
            out.push(
                json!({ "Variable": variable, "Parameter": value, "Required": vars.required }),
            );
        }
    }
    Value::Array(out)
}
