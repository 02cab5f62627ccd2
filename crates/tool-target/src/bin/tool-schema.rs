//! Prints the Gateway target's inline tool schema, generated from the argument types.
//! Usage: cargo run -p tool-target --bin tool-schema > infra/gateway/tool-target-schema.json

fn main() {
    match serde_json::to_string_pretty(&tool_target::tools::gateway_tool_schema()) {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("tool-schema: {e}");
            std::process::exit(1);
        }
    }
}
