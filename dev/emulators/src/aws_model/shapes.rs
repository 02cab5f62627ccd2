//! An operation's input against its shapes' constraints.

use serde_json::Value;

use super::ServiceModel;

/// One constraint a value breaks, named by the member's path (`searchCriteria.searchQuery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub constraint: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Coral's wording, without the value (it may carry a prompt or a token).
        write!(
            f,
            "Value at '{}' failed to satisfy constraint: {}",
            self.path, self.constraint
        )
    }
}

fn push(out: &mut Vec<Violation>, path: &str, constraint: String) {
    out.push(Violation {
        path: path.to_owned(),
        constraint,
    });
}

pub(crate) fn join(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_owned()
    } else {
        format!("{path}.{member}")
    }
}

fn number(shape: &Value, key: &str) -> Option<f64> {
    shape[key].as_f64()
}

/// Checks `value` against shape `name`; violations go to `out`.
pub(crate) fn check(
    model: &ServiceModel,
    name: &str,
    value: &Value,
    path: &str,
    out: &mut Vec<Violation>,
) {
    let shape = model.shape(name);
    let kind = shape["type"].as_str().unwrap_or("");
    let type_error = |out: &mut Vec<Violation>| {
        push(out, path, format!("Member must be of type {kind}"));
    };
    match kind {
        "structure" => {
            if shape["document"] == true {
                return; // any JSON document
            }
            let Some(object) = value.as_object() else {
                return type_error(out);
            };
            let members = shape["members"].as_object();
            if shape["union"] == true {
                let set = object.values().filter(|v| !v.is_null()).count();
                if set != 1 {
                    push(
                        out,
                        path,
                        format!("Member must have exactly one member set (has {set})"),
                    );
                }
            }
            for required in shape["required"].as_array().into_iter().flatten() {
                let Some(required) = required.as_str() else {
                    continue;
                };
                if object.get(required).is_none_or(Value::is_null) {
                    push(out, &join(path, required), "Member must not be null".into());
                }
            }
            for (member, v) in object {
                if v.is_null() {
                    continue;
                }
                // Unknown members are ignored, as AWS's JSON services ignore them.
                if let Some(target) = members
                    .and_then(|m| m.get(member))
                    .and_then(|m| m["shape"].as_str())
                {
                    check(model, target, v, &join(path, member), out);
                }
            }
        }
        "list" => {
            let Some(items) = value.as_array() else {
                return type_error(out);
            };
            sizes(shape, items.len(), path, "length", out);
            if let Some(member) = shape["member"]["shape"].as_str() {
                for (i, item) in items.iter().enumerate() {
                    check(model, member, item, &format!("{path}.{}", i + 1), out);
                }
            }
        }
        "map" => {
            let Some(entries) = value.as_object() else {
                return type_error(out);
            };
            sizes(shape, entries.len(), path, "length", out);
            let key_shape = shape["key"]["shape"].as_str();
            let value_shape = shape["value"]["shape"].as_str();
            for (k, v) in entries {
                if let Some(ks) = key_shape {
                    check(
                        model,
                        ks,
                        &Value::String(k.clone()),
                        &format!("{path}.key"),
                        out,
                    );
                }
                if let Some(vs) = value_shape {
                    check(model, vs, v, &format!("{path}.{k}"), out);
                }
            }
        }
        "string" => {
            let Some(text) = value.as_str() else {
                return type_error(out);
            };
            // Smithy counts a string's length in characters (Unicode scalar values).
            sizes(shape, text.chars().count(), path, "length", out);
            if let Some(values) = shape["enum"].as_array()
                && !values.iter().any(|v| v.as_str() == Some(text))
            {
                let list: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                push(
                    out,
                    path,
                    format!("Member must satisfy enum value set: [{}]", list.join(", ")),
                );
            }
            if let Some(pattern) = shape["pattern"].as_str()
                && !model.patterns.get(pattern).matches(text)
            {
                push(
                    out,
                    path,
                    format!("Member must satisfy regular expression pattern: {pattern}"),
                );
            }
        }
        "integer" | "long" | "short" | "byte" => {
            let Some(n) = value.as_f64().filter(|n| n.fract() == 0.0) else {
                return type_error(out);
            };
            range(shape, n, path, out);
        }
        "float" | "double" => {
            let Some(n) = value.as_f64() else {
                return type_error(out);
            };
            range(shape, n, path, out);
        }
        "boolean" if !value.is_boolean() => type_error(out),
        "timestamp" if !(value.is_number() || value.is_string()) => type_error(out),
        "blob" => {
            // In a JSON body a blob is base64 text; its length is the decoded bytes'.
            let Some(text) = value.as_str() else {
                return type_error(out);
            };
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(bytes) => sizes(shape, bytes.len(), path, "length", out),
                Err(_) => push(out, path, "Member must be base64-encoded".into()),
            }
        }
        // Shapes this checker does not know constrain nothing here.
        _ => {}
    }
}

fn sizes(shape: &Value, len: usize, path: &str, what: &str, out: &mut Vec<Violation>) {
    if let Some(min) = number(shape, "min")
        && (len as f64) < min
    {
        push(
            out,
            path,
            format!("Member must have {what} greater than or equal to {min}"),
        );
    }
    if let Some(max) = number(shape, "max")
        && (len as f64) > max
    {
        push(
            out,
            path,
            format!("Member must have {what} less than or equal to {max}"),
        );
    }
}

fn range(shape: &Value, n: f64, path: &str, out: &mut Vec<Violation>) {
    if let Some(min) = number(shape, "min")
        && n < min
    {
        push(
            out,
            path,
            format!("Member must have value greater than or equal to {min}"),
        );
    }
    if let Some(max) = number(shape, "max")
        && n > max
    {
        push(
            out,
            path,
            format!("Member must have value less than or equal to {max}"),
        );
    }
}
