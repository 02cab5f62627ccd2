//! The adversarial cases at the tool target, kept as data in
//! `events/adversarial/tool-target-attacks.json`: cross-tenant ids, header spoofing, tokens that
//! are not the caller's, argument smuggling, names of targets and tools that do not fit. Each is
//! an invocation as AgentCore Gateway sends it, with the code it must meet; no reply may carry
//! what the case lists as another clinic's. One line per case, then `N passed, M failed`.

mod support;

use serde_json::{Value, json};
use support::world::*;
use testkit::test_issuer;
use tool_target::handler::handle;
use tool_target::runtime::Invocation;

const CASES: &str = include_str!("../../../events/adversarial/tool-target-attacks.json");

fn caller_token(tier: &str, clinic: &str, role: &str) -> String {
    let mut claims = test_issuer::id_claims();
    claims["custom:tier"] = tier.into();
    claims["custom:clinic_id"] = clinic.into();
    claims["custom:role"] = role.into();
    test_issuer::sign(&claims)
}

/// `$TOKEN{tier,clinic}`, `$NONE_TOKEN` and `$REPEAT{c,n}`.
fn expand(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find("$TOKEN{") {
        let end = start + out[start..].find('}').expect("closing brace") + 1;
        let (tier, clinic) = out[start + 7..end - 1]
            .split_once(',')
            .expect("tier,clinic");
        let token = caller_token(tier, clinic, "clinician");
        out.replace_range(start..end, &token);
    }
    let none = format!(
        "{}.{}.",
        test_issuer::b64(&json!({"alg": "none", "kid": test_issuer::KID})),
        test_issuer::b64(&test_issuer::id_claims())
    );
    out = out.replace("$NONE_TOKEN", &none);
    testkit::adversarial::expand_repeats(&out)
}

fn invocation_of(case: &Value) -> Invocation {
    let caller = &case["caller"];
    let (tier, clinic) = (
        caller["tier"].as_str().expect("tier"),
        caller["clinic"].as_str().expect("clinic"),
    );
    let role = caller["role"].as_str().unwrap_or("clinician");
    let mut headers = headers(tier, clinic);
    headers["X-Id-Token"] = caller_token(tier, clinic, role).into();
    for (k, v) in case["headers"].as_object().into_iter().flatten() {
        match v {
            Value::Null => {
                headers.as_object_mut().unwrap().remove(k);
            }
            other => headers[k] = expand(other.as_str().expect("a header")).into(),
        }
    }
    let tool = match (case["raw_tool"].as_str(), case["tool"].as_str()) {
        (Some(raw), _) => raw.to_owned(),
        (None, Some(t)) => {
            let (target_tier, tool) = t.split_once(':').expect("<tier>:<tool>");
            format!("tenantry-{target_tier}-tools___{tool}")
        }
        (None, None) => String::new(),
    };
    let args: Value = serde_json::from_str(&expand(&case["args"].to_string())).unwrap();
    let mut inv = invocation(&tool, &headers, &args);
    if let Some(raw) = case["raw_client_context"].as_str() {
        inv.client_context = Some(raw.to_owned());
    }
    inv
}

#[tokio::test]
async fn every_attack_at_the_tool_target_meets_its_refusal() {
    // 15:30 UTC: 10:30 in New York, inside clinic-a's business hours.
    let w = world("adversarial", 15).await;
    let cases = &testkit::adversarial::cases(CASES);
    let mut report = testkit::adversarial::Report::default();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let expected = case["expect"].as_str().expect("expect");
        let reply = handle(invocation_of(case), w.deps.clone()).await;
        let outcome = reply["error"]["code"].as_str().unwrap_or("ok").to_owned();
        let text = reply.to_string();
        let leaked: Vec<&str> = case["must_not_contain"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|s| text.contains(s))
            .collect();
        report.record(
            name,
            if outcome == expected && leaked.is_empty() {
                Ok(outcome)
            } else {
                Err(format!("{outcome}, expected {expected}; leaked {leaked:?}"))
            },
        );
    }
    report.finish(cases, 25, |c| c["expect"] == "ok");
}
