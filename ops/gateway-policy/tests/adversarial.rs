//! The adversarial cases against the Cedar layer, kept as data in
//! `events/adversarial/cedar-bypass.json`: each is a tool call as AgentCore Gateway presents it
//! to its policy engine, with the refusal it must meet (`deny`, or `invalid`: the request does
//! not fit the schema, so the Gateway refuses it before any decision). One line per case, then
//! `N passed, M failed`.

use gateway_policy::{Deployed, GatewayPolicy, ToolCall};
use serde_json::Value;

const CASES: &str = include_str!("../../../events/adversarial/cedar-bypass.json");

#[test]
fn every_cedar_bypass_attempt_is_refused_as_expected() {
    let file: Value = serde_json::from_str(CASES).expect("the case file is JSON");
    let gateways: Vec<(String, String)> = file["gateways"]
        .as_object()
        .expect("gateways")
        .iter()
        .map(|(tier, arn)| (tier.clone(), arn.as_str().expect("an ARN").to_owned()))
        .collect();
    let roles = file["runtime_roles"].as_object().expect("runtime_roles");
    let named: Vec<Deployed<'_>> = gateways
        .iter()
        .map(|(t, a)| Deployed {
            tier: t,
            gateway_arn: a,
            runtime_role: roles[t.as_str()].as_str().expect("a role name"),
        })
        .collect();
    let policy = GatewayPolicy::for_gateways(&named).expect("the shipped policies load");
    let cases = file["cases"].as_array().expect("cases");
    let mut report = testkit::adversarial::Report::default();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let gateway = case["gateway"].as_str().expect("gateway");
        let gateway_arn = gateways
            .iter()
            .find(|(t, _)| t == gateway)
            .map_or(gateway, |(_, a)| a.as_str());
        let outcome = match policy.permits(&ToolCall {
            principal_arn: case["principal"].as_str().expect("principal"),
            action: case["action"].as_str().expect("action"),
            gateway_arn,
            input: &case["input"],
        }) {
            Ok(true) => "permit",
            Ok(false) => "deny",
            Err(_) => "invalid",
        };
        let expected = case["expect"].as_str().expect("expect");
        let layer = case["layer"].as_str().unwrap_or("?");
        report.record(
            name,
            if outcome == expected {
                Ok(format!("{outcome} ({layer})"))
            } else {
                Err(format!("{outcome}, expected {expected} ({layer})"))
            },
        );
    }
    report.finish(cases, 20, |c| c["expect"] == "permit");
}
