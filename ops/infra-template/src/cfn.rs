//! Small builders for CloudFormation intrinsic functions and tag shapes.

use serde_json::{Value, json};

pub fn sub(template: &str) -> Value {
    json!({ "Fn::Sub": template })
}

/// The ARN of an SSM parameter of this account and Region; `name` starts with `/` and may be
/// an `Fn::Sub` variable such as `${PageTokenKeyParameter}`.
pub fn ssm_parameter_arn(name: &str) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{name}"
    ))
}

pub fn reference(logical_id: &str) -> Value {
    json!({ "Ref": logical_id })
}

pub fn get_att(logical_id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [logical_id, attribute] })
}

/// Tags as most resource types take them: `[{Key, Value}]`.
pub fn tag_list(tags: &[(&str, &str)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}

/// Tags as the newer resource types (AgentCore, Bedrock, SSM, Cognito) take them: a map.
pub fn tag_map(tags: &[(&str, &str)]) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect(),
    )
}

/// `basic` -> `Basic`, `gold-plus` -> `GoldPlus`: tier names inside logical ids.
pub fn pascal(name: &str) -> String {
    name.split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A checkov inline suppression: the check id and why it does not apply.
pub fn checkov_skips(skips: &[(&str, &str)]) -> Value {
    json!({
        "checkov": {
            "skip": skips
                .iter()
                .map(|(id, comment)| json!({ "id": id, "comment": comment }))
                .collect::<Vec<_>>()
        }
    })
}

/// What stateful resources (keys, tables, buckets, log groups) do when their stack is deleted:
/// kept, except when the stack's own creation rolls back. A plain `Retain` would keep them
/// then too, and the retry of a failed first deployment would fail on their fixed names
/// ("already exists").
pub const KEPT_ON_DELETION: &str = "RetainExceptOnCreate";
/// And when an update replaces them (`RetainExceptOnCreate` is a deletion policy only).
pub const KEPT_ON_REPLACEMENT: &str = "Retain";
