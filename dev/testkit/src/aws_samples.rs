//! AWS's own sample events (`events/aws-samples`, each with its source in that folder's
//! README), for the tests that hold the functions and the project's fixtures to them.

use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/aws-samples");

/// The text of a sample.
pub fn text(name: &str) -> String {
    let path = format!("{DIR}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("AWS sample {path}: {e}"))
}

/// A JSON sample; `.jsonc` samples (AWS's format blocks, kept as published) lose their `//`
/// comments and the no-break spaces of the page first.
pub fn json(name: &str) -> Value {
    let text = text(name).replace('\u{a0}', " ");
    let text = if name.ends_with(".jsonc") {
        text.lines()
            .map(|l| match l.find(" //") {
                Some(i) => &l[..i],
                None => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        text
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("AWS sample {name}: {e}"))
}

/// Where `ours` differs in shape from AWS's `sample`: a key of the sample's objects that ours
/// lacks (unless listed in `optional`, as `path.key`), a key ours has that the sample does not,
/// or a JSON type that differs (`null` in either matches anything: the sample's placeholders).
/// Values are not compared, nor anything under an `opaque` path (free-form maps: headers,
/// user attributes, an authorizer's context).
pub fn shape_differences(
    ours: &Value,
    sample: &Value,
    optional: &[&str],
    opaque: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    walk(ours, sample, "", optional, opaque, &mut out);
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(
    ours: &Value,
    sample: &Value,
    path: &str,
    optional: &[&str],
    opaque: &[&str],
    out: &mut Vec<String>,
) {
    if opaque.contains(&path) {
        return;
    }
    let at = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (ours, sample) {
        (_, Value::Null) | (Value::Null, _) => {}
        (Value::Object(o), Value::Object(s)) => {
            for (k, sv) in s {
                match o.get(k) {
                    Some(ov) => walk(ov, sv, &at(k), optional, opaque, out),
                    None if optional.contains(&at(k).as_str()) => {}
                    None => out.push(format!("{} is missing (AWS's sample has it)", at(k))),
                }
            }
            for k in o.keys() {
                if !s.contains_key(k) {
                    out.push(format!("{} is not in AWS's sample", at(k)));
                }
            }
        }
        (o, s) if kind(o) != kind(s) => out.push(format!(
            "{} is {} where AWS's sample has {}",
            if path.is_empty() { "(top)" } else { path },
            kind(o),
            kind(s)
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_differ_by_missing_extra_and_typed_keys() {
        let sample = json!({"a": 1, "b": {"c": "x"}, "d": null});
        assert!(
            shape_differences(
                &json!({"a": 2, "b": {"c": "y"}, "d": [1]}),
                &sample,
                &[],
                &[]
            )
            .is_empty()
        );
        let diffs = shape_differences(&json!({"a": "1", "b": {}, "e": 0}), &sample, &[], &[]);
        assert_eq!(diffs.len(), 4, "{diffs:?}");
        assert!(
            shape_differences(&json!({"a": 1, "b": {}, "d": 0}), &sample, &["b.c"], &[]).is_empty()
        );
        assert!(
            shape_differences(
                &json!({"a": 1, "b": {"z": 1}, "d": 0}),
                &sample,
                &[],
                &["b"]
            )
            .is_empty()
        );
        assert_eq!(
            json("apigw-authorizer-response-format.jsonc")["principalId"],
            "yyyyyyyy"
        );
    }
}
