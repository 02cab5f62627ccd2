//! Requests that each break one constraint of an operation's model, made from a valid one:
//! every required member left out, every constrained member present made too short, too
//! long, off its pattern, off its enum, out of its range, and every list or map too small or
//! too large. The tests send each to an emulation, which must refuse it as AWS would.

use serde_json::{Map, Value};

use super::shapes::join;
use super::{Operation, ServiceModel};

/// One constraint broken.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// `member.path: what was broken`.
    pub description: String,
    /// The operation's input with that one change.
    pub input: Value,
}

/// Characters tried, in turn, to leave a pattern: ASCII only, so that every mutation can
/// travel in a path, a query or a header.
const OFF_PATTERN: [&str; 8] = ["!", "#", " ", "..", "-", "a!", "%", "A"];

pub fn mutations(model: &ServiceModel, op: &Operation, valid: &Value) -> Vec<Mutation> {
    let mut out = Vec::new();
    if let Some(shape) = &op.input {
        walk(model, shape, valid, "", "", valid, &mut out);
    }
    out
}

fn with(valid: &Value, pointer: &str, replacement: Option<Value>) -> Value {
    let mut input = valid.clone();
    match replacement {
        Some(v) => {
            if let Some(slot) = input.pointer_mut(pointer) {
                *slot = v;
            }
        }
        None => {
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            if let Some(Value::Object(m)) = input.pointer_mut(parent) {
                m.remove(key);
            }
        }
    }
    input
}

fn walk(
    model: &ServiceModel,
    shape_name: &str,
    value: &Value,
    pointer: &str,
    path: &str,
    valid: &Value,
    out: &mut Vec<Mutation>,
) {
    let shape = model.shape(shape_name);
    let add = |what: String, replacement: Option<Value>| Mutation {
        description: format!("{}: {what}", if path.is_empty() { "input" } else { path }),
        input: with(valid, pointer, replacement),
    };
    let min = shape["min"].as_f64();
    let max = shape["max"].as_f64();
    match shape["type"].as_str().unwrap_or("") {
        "structure" => {
            if shape["document"] == true {
                return;
            }
            let Some(object) = value.as_object() else {
                return;
            };
            let members = shape["members"].as_object();
            for required in shape["required"].as_array().into_iter().flatten() {
                let Some(required) = required.as_str() else {
                    continue;
                };
                if object.contains_key(required) {
                    out.push(Mutation {
                        description: format!("{}: left out (required)", join(path, required)),
                        input: with(valid, &format!("{pointer}/{required}"), None),
                    });
                }
            }
            for (member, v) in object {
                if let Some(target) = members
                    .and_then(|m| m.get(member))
                    .and_then(|m| m["shape"].as_str())
                {
                    walk(
                        model,
                        target,
                        v,
                        &format!("{pointer}/{member}"),
                        &join(path, member),
                        valid,
                        out,
                    );
                }
            }
        }
        "string" => {
            let Some(text) = value.as_str() else {
                return;
            };
            let chars: Vec<char> = text.chars().collect();
            if let Some(min) = min.filter(|m| *m >= 1.0) {
                let short: String = chars.iter().take(min as usize - 1).collect();
                out.push(add(
                    format!("{} characters (min {min})", min as usize - 1),
                    Some(Value::String(short)),
                ));
            }
            if let Some(max) = max {
                let fill = chars.last().copied().unwrap_or('a');
                let mut long: String = text.to_owned();
                while long.chars().count() <= max as usize {
                    long.push(fill);
                }
                out.push(add(
                    format!("{} characters (max {max})", max as usize + 1),
                    Some(Value::String(long)),
                ));
            }
            if shape["enum"].is_array() {
                out.push(add(
                    "not an enum value".into(),
                    Some(Value::String("NOT_AN_ENUM_VALUE".into())),
                ));
            }
            if let Some(pattern) = shape["pattern"].as_str() {
                let compiled = model.patterns.get(pattern);
                let lo = min.unwrap_or(0.0).max(1.0) as usize;
                let hi = max.unwrap_or(f64::MAX);
                let off = OFF_PATTERN.iter().find_map(|c| {
                    let candidate = c.repeat(lo.div_ceil(c.len()).max(1));
                    let n = candidate.chars().count() as f64;
                    (n <= hi && !compiled.matches(&candidate)).then_some(candidate)
                });
                if let Some(candidate) = off {
                    out.push(add(
                        format!("off its pattern {pattern}"),
                        Some(Value::String(candidate)),
                    ));
                }
            }
        }
        "integer" | "long" | "short" | "byte" | "float" | "double" => {
            if let Some(min) = min {
                out.push(add(
                    format!("below its minimum {min}"),
                    Some(Value::from(min as i64 - 1)),
                ));
            }
            if let Some(max) = max {
                out.push(add(
                    format!("above its maximum {max}"),
                    Some(Value::from(max as i64 + 1)),
                ));
            }
        }
        "list" => {
            let Some(items) = value.as_array() else {
                return;
            };
            if min.is_some_and(|m| m >= 1.0) {
                out.push(add("an empty list".into(), Some(Value::Array(Vec::new()))));
            }
            if let (Some(max), Some(first)) = (max, items.first()) {
                let long = vec![first.clone(); max as usize + 1];
                out.push(add(
                    format!("{} items (max {max})", max as usize + 1),
                    Some(Value::Array(long)),
                ));
            }
            if let Some(member) = shape["member"]["shape"].as_str() {
                for (i, item) in items.iter().enumerate() {
                    walk(
                        model,
                        member,
                        item,
                        &format!("{pointer}/{i}"),
                        &format!("{path}.{}", i + 1),
                        valid,
                        out,
                    );
                }
            }
        }
        "map" => {
            let Some(entries) = value.as_object() else {
                return;
            };
            if min.is_some_and(|m| m >= 1.0) {
                out.push(add("an empty map".into(), Some(Value::Object(Map::new()))));
            }
            if let (Some(max), Some((_, first))) = (max, entries.iter().next()) {
                let long: Map<String, Value> = (0..=max as usize)
                    .map(|i| (format!("k{i}"), first.clone()))
                    .collect();
                out.push(add(
                    format!("{} entries (max {max})", max as usize + 1),
                    Some(Value::Object(long)),
                ));
            }
        }
        _ => {}
    }
}
