//! Reading the agent's replies as a client of the API gets them.

use serde_json::Value;

/// The agent's answer from request-proxy's reply body: one JSON object, or (when the agent
/// streamed) its Server-Sent Events folded into the same shape.
pub fn agent_reply(body: &str) -> Value {
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(body) {
        return v;
    }
    let mut answer = String::new();
    let mut tool_calls = Vec::new();
    let mut reply = serde_json::Map::new();
    for frame in body.split("\n\n") {
        let Some(event) = frame
            .strip_prefix("data: ")
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
        else {
            continue;
        };
        match event["type"].as_str() {
            Some("text_delta") => answer.push_str(event["text"].as_str().unwrap_or_default()),
            Some("tool_end") => tool_calls.push(event),
            Some("final") | Some("error") => {
                if let Value::Object(m) = event {
                    reply.extend(m);
                }
            }
            _ => {}
        }
    }
    reply.insert("answer".into(), answer.into());
    reply.insert("tool_calls".into(), tool_calls.into());
    Value::Object(reply)
}

/// The agent's JSON reply, summarised for the flow's output.
pub fn describe(reply: &Value) -> String {
    let tools: Vec<String> = reply["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| {
                    format!(
                        "{}:{}",
                        c["tool"].as_str().unwrap_or("?"),
                        c["status"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "tools [{}], {} tokens, est. {} {:.6}\n        answer: {}",
        tools.join(", "),
        reply["usage"]["total_tokens"],
        reply["usage"]["currency"].as_str().unwrap_or(""),
        reply["usage"]["estimated_cost"].as_f64().unwrap_or(0.0),
        shorten(reply["answer"].as_str().unwrap_or("?"), 260)
    )
}

/// At most `max` characters, with an ellipsis when cut (the flow prints answers on one line).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}...")
}
