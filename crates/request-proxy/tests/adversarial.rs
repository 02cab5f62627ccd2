//! The adversarial cases against the front door, kept as data in
//! `events/adversarial/front-door-spoofing.json`: each changes clinic-a's allowed request (body,
//! headers, Authorization values, the authorizer's context, the path) and names the refusal it
//! must meet, or, where a forgery must simply change nothing, the tier whose runtime must have
//! been called with the caller's own token. One line per case, then `N passed, M failed`.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use wiremock::ResponseTemplate;

const CASES: &str = include_str!("../../../events/adversarial/front-door-spoofing.json");

/// `$TOKEN{claims}` (clinic-a's claims with these changed, unsigned), `$TOKEN`, `$SESSION{clinic}`
/// and `$REPEAT{c,n}` in a case's strings.
fn expand(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find("$TOKEN{") {
        let end = start + out[start..].find('}').expect("closing brace") + 1;
        let changes: Value = serde_json::from_str(&out[start + 6..end]).expect("claims JSON");
        let mut claims = clinic_a_claims();
        for (k, v) in changes.as_object().expect("an object") {
            claims[k] = v.clone();
        }
        out.replace_range(start..end, &unsigned_token(&claims));
    }
    out = out.replace("$TOKEN", TOKEN);
    while let Some(start) = out.find("$SESSION{") {
        let end = start + out[start..].find('}').expect("closing brace") + 1;
        let clinic = out[start + 9..end - 1].to_owned();
        out.replace_range(start..end, &bound_session(&clinic));
    }
    testkit::adversarial::expand_repeats(&out)
}

/// The base event with the case's changes.
fn event(case: &Value) -> String {
    let mut v: Value = serde_json::from_str(fixture!("invoke-clinic-a.json")).unwrap();
    if let Some(headers) = case.get("headers").and_then(Value::as_object) {
        for (k, value) in headers {
            let value = expand(value.as_str().expect("a header value"));
            v["headers"][k] = json!(value);
            v["multiValueHeaders"][k] = json!([value]);
        }
    }
    match case.get("authorization") {
        None => {}
        Some(Value::Null) => {
            for map in ["headers", "multiValueHeaders"] {
                v[map].as_object_mut().unwrap().remove("Authorization");
            }
        }
        Some(Value::Array(values)) => {
            let values: Vec<String> = values
                .iter()
                .map(|x| expand(x.as_str().expect("a string")))
                .collect();
            // API Gateway's single-value map holds the last value of a repeated header.
            v["headers"]["Authorization"] = json!(values.last());
            v["multiValueHeaders"]["Authorization"] = json!(values);
        }
        Some(value) => {
            let value = expand(value.as_str().expect("a string"));
            v["headers"]["Authorization"] = json!(value);
            v["multiValueHeaders"]["Authorization"] = json!([value]);
        }
    }
    match case.get("authorizer") {
        None => {}
        Some(Value::Null) => {
            v["requestContext"]
                .as_object_mut()
                .unwrap()
                .remove("authorizer");
        }
        Some(changes) => {
            for (k, value) in changes.as_object().expect("an object") {
                let authorizer = v["requestContext"]["authorizer"].as_object_mut().unwrap();
                match value {
                    Value::Null => {
                        authorizer.remove(k);
                    }
                    other => {
                        authorizer.insert(k.clone(), other.clone());
                    }
                }
            }
        }
    }
    if let Some(body) = case.get("body") {
        v["body"] = json!(expand(&body.to_string()));
    }
    if let Some(raw) = case.get("raw_body").and_then(Value::as_str) {
        v["body"] = json!(raw);
    }
    if let Some(path) = case.get("path").and_then(Value::as_str) {
        v["path"] = json!(path);
    }
    v.to_string()
}

#[tokio::test]
async fn every_front_door_forgery_is_refused_or_changes_nothing() {
    let server = runtime(ResponseTemplate::new(200).set_body_raw("{}", "application/json")).await;
    let d = deps(&server.uri(), Duration::from_secs(5));
    let cases = &testkit::adversarial::cases(CASES);
    let mut report = testkit::adversarial::Report::default();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let layer = case["layer"].as_str().unwrap_or("?");
        let before = server.received_requests().await.unwrap().len();
        let (status, _, body) = call(d.clone(), &event(case)).await;
        let upstream = server.received_requests().await.unwrap();
        let reached = &upstream[before..];
        let want_status = case["expect_status"].as_u64().expect("expect_status") as u16;
        let want_code = case["expect_code"].as_str();
        let verdict = if status != want_status {
            Err(format!("status {status}, expected {want_status}"))
        } else if let Some(code) = want_code
            && error_code(&body) != code
        {
            Err(format!("code {}, expected {code}", error_code(&body)))
        } else if let Some(tier) = case["runtime"].as_str() {
            // Changed nothing: exactly one call, to the caller's tier, with the caller's token.
            match reached {
                [one]
                    // The runtime ARN is percent-encoded in the path (`:` and `/`; `_` stays).
                    if one.url.path().contains(&format!("tenantry_{tier}"))
                        && support::signed_by_the_proxy_with(one, TOKEN).is_ok() =>
                {
                    Ok(())
                }
                other => Err(format!(
                    "{} runtime calls, not one to {tier} as the caller",
                    other.len()
                )),
            }
        } else if reached.is_empty() {
            Ok(())
        } else {
            Err("a refused request reached the runtime".to_owned())
        };
        report.record(
            name,
            verdict
                .map(|()| format!("{status} ({layer})"))
                .map_err(|why| format!("{why} ({layer})")),
        );
    }
    report.finish(cases, 20, |c| {
        c["name"].as_str().is_some_and(|n| n.starts_with("control"))
    });
}
