//! IAM documents: the shipped `infra/policies/*.json` rendered into the template, and the
//! small role documents the template builds itself.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::Error;

/// Renders a policy document whose stack-specific values are marked `{{Name}}`.
///
/// Each string holding a placeholder becomes an `Fn::Sub` with an explicit variable map; the
/// IAM policy variables it may also hold (`${aws:PrincipalTag/...}`) are escaped as `${!...}` so
/// CloudFormation leaves them for IAM. Strings without placeholders are copied as they are
/// (CloudFormation does not interpret `${...}` outside `Fn::Sub`). An unknown placeholder is an
/// error, so a new one in the documents cannot reach a stack half-rendered.
pub fn render(doc: &Value, values: &BTreeMap<&'static str, Value>) -> Result<Value, Error> {
    match doc {
        Value::String(s) if s.contains("{{") => render_string(s, values),
        Value::Array(items) => items
            .iter()
            .map(|v| render(v, values))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if k.contains("{{") {
                    return Err(Error::Placeholder {
                        name: k.clone(),
                        reason: "placeholders are only supported in values, not keys",
                    });
                }
                out.insert(k.clone(), render(v, values)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn render_string(s: &str, values: &BTreeMap<&'static str, Value>) -> Result<Value, Error> {
    let mut text = s.replace("${", "${!");
    let mut used = Map::new();
    while let Some(start) = text.find("{{") {
        let end = text[start..].find("}}").ok_or_else(|| Error::Placeholder {
            name: s.to_owned(),
            reason: "unterminated {{",
        })? + start;
        let name = text[start + 2..end].to_owned();
        let value = values
            .get(name.as_str())
            .ok_or_else(|| Error::Placeholder {
                name: name.clone(),
                reason: "no value for this placeholder in the template generator",
            })?;
        used.insert(name.clone(), value.clone());
        text.replace_range(start..end + 2, &format!("${{{name}}}"));
    }
    Ok(json!({ "Fn::Sub": [text, Value::Object(used)] }))
}

/// A trust policy for an AWS service principal, limited to this account.
pub fn service_trust(service: &str, source_arn: Option<Value>) -> Value {
    let mut condition =
        json!({ "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } });
    if let Some(arn) = source_arn {
        condition["ArnLike"] = json!({ "aws:SourceArn": arn });
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole",
            "Condition": condition
        }]
    })
}

/// A service's trust policy without confused-deputy conditions, for services that do not
/// document passing `aws:SourceAccount`/`aws:SourceArn` when they assume a role (a condition on
/// an absent key would lock the service out).
pub fn plain_service_trust(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// Lambda's trust policy. (Lambda does not set aws:SourceAccount on AssumeRole, so the
/// confused-deputy condition above would lock the function out.)
pub fn lambda_trust() -> Value {
    plain_service_trust("lambda.amazonaws.com")
}

pub fn statement(sid: &str, actions: &[&str], resources: Value) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

pub fn document(statements: Vec<Value>) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<&'static str, Value> {
        BTreeMap::from([("TableArn", json!({"Fn::GetAtt": ["T", "Arn"]}))])
    }

    #[test]
    fn placeholders_become_sub_variables_and_iam_variables_stay_literal() {
        let doc = json!({ "Resource": "{{TableArn}}/${aws:PrincipalTag/ClinicId}" });
        let out = render(&doc, &values()).unwrap();
        assert_eq!(
            out,
            json!({ "Resource": { "Fn::Sub": [
                "${TableArn}/${!aws:PrincipalTag/ClinicId}",
                { "TableArn": {"Fn::GetAtt": ["T", "Arn"]} }
            ]}})
        );
    }

    #[test]
    fn strings_without_placeholders_are_untouched() {
        let doc = json!({ "Condition": { "StringEquals": { "k": "${aws:PrincipalTag/Tier}" } } });
        assert_eq!(render(&doc, &values()).unwrap(), doc);
    }

    #[test]
    fn unknown_or_broken_placeholders_are_errors() {
        assert!(matches!(
            render(&json!("{{Nope}}"), &values()),
            Err(Error::Placeholder { ref name, .. }) if name == "Nope"
        ));
        assert!(render(&json!("{{TableArn"), &values()).is_err());
        assert!(render(&json!({ "{{TableArn}}": 1 }), &values()).is_err());
    }
}
