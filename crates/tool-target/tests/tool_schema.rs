//! The Gateway target's inline tool schema in infra/ must be exactly what the argument types
//! generate. Regenerate with:
//!   cargo run -p tool-target --bin tool-schema > infra/gateway/tool-target-schema.json

const IN_INFRA: &str = include_str!("../../../infra/gateway/tool-target-schema.json");

#[test]
fn infra_tool_schema_matches_the_argument_types() {
    let shipped: serde_json::Value = serde_json::from_str(IN_INFRA).expect("infra schema is JSON");
    assert_eq!(
        shipped,
        tool_target::tools::gateway_tool_schema(),
        "infra/gateway/tool-target-schema.json drifted from the Rust argument types; regenerate it with \
         `cargo run -p tool-target --bin tool-schema > infra/gateway/tool-target-schema.json`"
    );
}
