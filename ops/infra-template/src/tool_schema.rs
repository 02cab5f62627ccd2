//! The Gateway target's inline tool schema in CloudFormation's spelling.
//!
//! `infra/gateway/tool-target-schema.json` is in the control-plane API's shape
//! (`{name, description, inputSchema: {type, properties, required}}`, what
//! `CreateGatewayTarget` and the MCP `tools/list` use). CloudFormation's
//! `AWS::BedrockAgentCore::GatewayTarget` takes the same structure with PascalCase keys
//! (`ToolDefinition`: `Name`, `Description`, `InputSchema`, `OutputSchema`; `SchemaDefinition`:
//! `Type`, `Properties`, `Required`, `Items`, `Description`) and refuses every other key, so a
//! JSON Schema keyword the registry type cannot carry (`enum`, `minimum`, ...) is an error here
//! rather than a failed stack.

use serde_json::{Map, Value};

use crate::Error;

/// The JSON types the registry's `SchemaType` allows.
const TYPES: [&str; 6] = ["string", "number", "object", "array", "boolean", "integer"];

/// One tool of the API-shaped file, as CloudFormation's `ToolDefinition`.
pub fn tool_definition(tool: &Value) -> Result<Value, Error> {
    let name = tool.get("name").and_then(Value::as_str).unwrap_or("?");
    let object = tool
        .as_object()
        .ok_or_else(|| invalid(name, "", "a tool must be an object"))?;
    let mut out = Map::new();
    for (key, value) in object {
        let (cfn_key, converted) = match key.as_str() {
            "name" => ("Name", string(name, "name", value)?),
            "description" => ("Description", string(name, "description", value)?),
            "inputSchema" => (
                "InputSchema",
                schema_definition(name, "inputSchema", value)?,
            ),
            "outputSchema" => (
                "OutputSchema",
                schema_definition(name, "outputSchema", value)?,
            ),
            other => {
                return Err(invalid(
                    name,
                    other,
                    "not a key of a Gateway tool definition",
                ));
            }
        };
        out.insert(cfn_key.to_owned(), converted);
    }
    for required in ["Name", "Description", "InputSchema"] {
        if !out.contains_key(required) {
            return Err(invalid(name, required, "missing"));
        }
    }
    Ok(Value::Object(out))
}

fn schema_definition(tool: &str, at: &str, schema: &Value) -> Result<Value, Error> {
    let object = schema
        .as_object()
        .ok_or_else(|| invalid(tool, at, "a schema must be an object"))?;
    let mut out = Map::new();
    for (key, value) in object {
        let path = format!("{at}.{key}");
        let (cfn_key, converted) = match key.as_str() {
            "type" => {
                let kind = value
                    .as_str()
                    .filter(|t| TYPES.contains(t))
                    .ok_or_else(|| {
                        invalid(
                            tool,
                            &path,
                            "must be one of string, number, object, array, boolean, integer",
                        )
                    })?;
                ("Type", Value::String(kind.to_owned()))
            }
            "description" => ("Description", string(tool, &path, value)?),
            "items" => ("Items", schema_definition(tool, &path, value)?),
            "required" => {
                let names = value
                    .as_array()
                    .filter(|names| names.iter().all(Value::is_string))
                    .ok_or_else(|| invalid(tool, &path, "must be a list of property names"))?;
                ("Required", Value::Array(names.clone()))
            }
            "properties" => {
                let properties = value
                    .as_object()
                    .ok_or_else(|| invalid(tool, &path, "must be an object"))?;
                let mut converted = Map::new();
                for (property, schema) in properties {
                    converted.insert(
                        property.clone(),
                        schema_definition(tool, &format!("{path}.{property}"), schema)?,
                    );
                }
                ("Properties", Value::Object(converted))
            }
            other => {
                return Err(invalid(
                    tool,
                    &path,
                    &format!(
                        "`{other}` has no place in CloudFormation's SchemaDefinition (Type, Properties, Required, Items, Description only)"
                    ),
                ));
            }
        };
        out.insert(cfn_key.to_owned(), converted);
    }
    if !out.contains_key("Type") {
        return Err(invalid(tool, at, "a schema needs a type"));
    }
    Ok(Value::Object(out))
}

fn string(tool: &str, at: &str, value: &Value) -> Result<Value, Error> {
    value
        .as_str()
        .map(|s| Value::String(s.to_owned()))
        .ok_or_else(|| invalid(tool, at, "must be a string"))
}

fn invalid(tool: &str, at: &str, reason: &str) -> Error {
    Error::ToolSchema {
        tool: tool.to_owned(),
        at: at.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_keys_become_cloudformation_keys_all_the_way_down() {
        let tool = json!({
            "name": "t",
            "description": "d",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "ids": { "type": "array", "description": "x", "items": { "type": "string" } }
                },
                "required": ["ids"]
            }
        });
        assert_eq!(
            tool_definition(&tool).unwrap(),
            json!({
                "Name": "t",
                "Description": "d",
                "InputSchema": {
                    "Type": "object",
                    "Properties": {
                        "ids": { "Type": "array", "Description": "x", "Items": { "Type": "string" } }
                    },
                    "Required": ["ids"]
                }
            })
        );
    }

    #[test]
    fn keywords_cloudformation_cannot_carry_are_refused_by_name() {
        for (tool, key) in [
            (
                json!({"name": "t", "description": "d", "inputSchema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}),
                "minimum",
            ),
            (
                json!({"name": "t", "description": "d", "inputSchema": {"type": "string", "enum": ["a"]}}),
                "enum",
            ),
            (
                json!({"name": "t", "description": "d", "annotations": {}, "inputSchema": {"type": "object"}}),
                "annotations",
            ),
            (
                json!({"name": "t", "inputSchema": {"type": "object"}}),
                "Description",
            ),
        ] {
            let err = tool_definition(&tool).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
