//! The Cedar policies shipped in infra/policies against the full table: each principal tier x
//! each target tier x each tool x hours 7, 8, 17, 18, 23. The expected answer is not typed here
//! again: it comes from the tier file (`TierConfig::allows_tool_at`), so the policies and
//! infra/tiers.json cannot drift apart unnoticed.

use gateway_policy::{GatewayPolicy, ToolCall};
use serde_json::{Value, json};
use tenant_context::{Role, TierCatalog};

const BASIC_GATEWAY: &str =
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/tenantry-basic-gw-abcdefghij";
const PREMIUM_GATEWAY: &str =
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/tenantry-premium-gw-klmnopqrst";

/// The policies as the deployed Gateways evaluate them (each tier's Gateway ARN filled in).
fn deployed() -> GatewayPolicy {
    GatewayPolicy::for_gateways(&[("basic", BASIC_GATEWAY), ("premium", PREMIUM_GATEWAY)])
        .expect("policies load")
}

/// The Gateway that serves an action: the one of the action's target's tier.
fn gateway_of(action: &str) -> &'static str {
    if action.starts_with("tenantry-premium-tools___") {
        PREMIUM_GATEWAY
    } else {
        BASIC_GATEWAY
    }
}
const SUB: &str = "6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11";
const TOOLS: [&str; 5] = [
    "patient_context",
    "clinic_config",
    "current_time",
    "retrieve_clinic_documents",
    "web_search",
];
const HOURS: [u8; 5] = [7, 8, 17, 18, 23];

fn input(tool: &str, hour: Option<u8>) -> Value {
    match (tool, hour) {
        ("patient_context", Some(h)) => json!({"patient_id": "p-1001", "request_hour": h}),
        ("patient_context", None) => json!({"patient_id": "p-1001"}),
        ("retrieve_clinic_documents", Some(h)) => {
            json!({"query": "lab results", "request_hour": h})
        }
        ("retrieve_clinic_documents", None) => json!({"query": "lab results"}),
        ("web_search", _) => json!({"query": "guidelines"}),
        _ => json!({}),
    }
}

fn permits(policy: &GatewayPolicy, claims: &[(&str, &str)], action: &str, input: &Value) -> bool {
    permits_on(policy, gateway_of(action), claims, action, input)
}

fn permits_on(
    policy: &GatewayPolicy,
    gateway_arn: &str,
    claims: &[(&str, &str)],
    action: &str,
    input: &Value,
) -> bool {
    policy
        .permits(&ToolCall {
            subject: SUB,
            claims,
            action,
            gateway_arn,
            input,
        })
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

#[test]
fn the_shipped_policies_validate_against_the_schema() {
    GatewayPolicy::shipped().expect("strict validation passes");
}

/// Each tier's policies hold on its own Gateway only: the same call presented by another
/// Gateway (the other tier's, or a Gateway someone else attached to the policy engine) is
/// denied, and so is every call while the Gateways are not named.
#[test]
fn policies_name_their_gateway() {
    let policy = deployed();
    let unnamed = GatewayPolicy::shipped().unwrap();
    let foreign =
        "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/someone-else-0123456789";
    for (tier, other_gateway) in [("basic", PREMIUM_GATEWAY), ("premium", BASIC_GATEWAY)] {
        let claims = [("custom:tier", tier), ("custom:role", "clinician")];
        let action = format!("tenantry-{tier}-tools___clinic_config");
        assert!(
            permits(&policy, &claims, &action, &json!({})),
            "{tier} on its own Gateway"
        );
        for gateway in [other_gateway, foreign] {
            assert!(
                !permits_on(&policy, gateway, &claims, &action, &json!({})),
                "{tier} on {gateway}"
            );
        }
        assert!(
            !permits(&unnamed, &claims, &action, &json!({})),
            "{tier}: unnamed Gateways permit nothing"
        );
    }
}

#[test]
fn full_table_tier_x_role_x_tool_x_hour_matches_the_tier_file() {
    let policy = deployed();
    let catalog = TierCatalog::embedded().unwrap();
    // Every role of the tier file, one it does not list, and no role claim at all.
    let mut roles: Vec<Option<String>> =
        catalog.roles().map(|(r, _)| Some(r.to_string())).collect();
    let listed = roles.len();
    roles.push(Some("front_desk".into()));
    roles.push(None);
    let mut checked = 0;
    let mut permitted = 0;
    for (principal_tier, _) in catalog.iter() {
        for role in &roles {
            let mut claims = vec![
                ("custom:tier", principal_tier.as_str()),
                ("custom:clinic_id", "clinic-a"),
            ];
            if let Some(r) = role {
                claims.push(("custom:role", r.as_str()));
            }
            let role_allows = |tool: &str| {
                role.as_deref()
                    .and_then(|r| Role::parse(r).ok())
                    .is_some_and(|r| catalog.role_allows(&r, tool))
            };
            for (target_tier, target) in catalog.iter() {
                for tool in TOOLS {
                    let action = format!("{}___{tool}", target.gateway_target);
                    for hour in HOURS {
                        let expected = principal_tier == target_tier
                            && target.allows_tool_at(tool, hour)
                            && role_allows(tool);
                        let got = permits(&policy, &claims, &action, &input(tool, Some(hour)));
                        assert_eq!(
                            got, expected,
                            "{principal_tier} principal, role {role:?}, {action}, {hour}:00"
                        );
                        checked += 1;
                        permitted += usize::from(got);
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * (listed + 2) * 2 * TOOLS.len() * HOURS.len());
    assert!(
        permitted > 0,
        "the table exercises permits as well as denials"
    );
}

#[test]
fn the_design_rules_hold_explicitly() {
    let policy = deployed();
    let basic = [("custom:tier", "basic"), ("custom:role", "clinician")];
    let premium = [("custom:tier", "premium"), ("custom:role", "clinician")];
    let premium_admin = [("custom:tier", "premium"), ("custom:role", "admin")];
    let b = |tool: &str| format!("tenantry-basic-tools___{tool}");
    let p = |tool: &str| format!("tenantry-premium-tools___{tool}");
    // basic patient_context only 08:00-18:00
    assert!(!permits(
        &policy,
        &basic,
        &b("patient_context"),
        &input("patient_context", Some(7))
    ));
    assert!(permits(
        &policy,
        &basic,
        &b("patient_context"),
        &input("patient_context", Some(8))
    ));
    assert!(permits(
        &policy,
        &basic,
        &b("patient_context"),
        &input("patient_context", Some(17))
    ));
    assert!(!permits(
        &policy,
        &basic,
        &b("patient_context"),
        &input("patient_context", Some(18))
    ));
    // ... and never without an hour to check
    assert!(!permits(
        &policy,
        &basic,
        &b("patient_context"),
        &input("patient_context", None)
    ));
    // premium 24/7, with or without an hour
    assert!(permits(
        &policy,
        &premium,
        &p("patient_context"),
        &input("patient_context", Some(23))
    ));
    assert!(permits(
        &policy,
        &premium,
        &p("patient_context"),
        &input("patient_context", None)
    ));
    // clinic_config for both
    assert!(permits(&policy, &basic, &b("clinic_config"), &json!({})));
    assert!(permits(&policy, &premium, &p("clinic_config"), &json!({})));
    // an admin manages the clinic, and reads no patient record
    assert!(permits(
        &policy,
        &premium_admin,
        &p("clinic_config"),
        &json!({})
    ));
    assert!(!permits(
        &policy,
        &premium_admin,
        &p("patient_context"),
        &input("patient_context", None)
    ));
    // web search premium only
    assert!(!permits(
        &policy,
        &basic,
        &b("web_search"),
        &input("web_search", None)
    ));
    assert!(permits(
        &policy,
        &premium,
        &p("web_search"),
        &input("web_search", None)
    ));
}

#[test]
fn principals_without_a_known_tier_are_denied_everything() {
    let policy = deployed();
    let no_tier: [(&str, &str); 1] = [("custom:clinic_id", "clinic-a")];
    let gold = [("custom:tier", "gold")];
    let uppercase = [("custom:tier", "BASIC")];
    for claims in [&no_tier[..], &gold[..], &uppercase[..]] {
        for target in ["tenantry-basic-tools", "tenantry-premium-tools"] {
            for tool in TOOLS {
                let action = format!("{target}___{tool}");
                assert!(
                    !permits(&policy, claims, &action, &input(tool, Some(12))),
                    "{claims:?} {action}"
                );
            }
        }
    }
}

#[test]
fn every_tool_of_every_tier_has_an_action_in_the_schema() {
    let policy = deployed();
    for (tier, cfg) in TierCatalog::embedded().unwrap().iter() {
        for tool in &cfg.tools {
            let action = format!("{}___{tool}", cfg.gateway_target);
            let claims = [("custom:tier", tier.as_str()), ("custom:role", "clinician")];
            // An action missing from the schema makes the request invalid (an error, not a deny).
            policy
                .permits(&ToolCall {
                    subject: SUB,
                    claims: &claims,
                    action: &action,
                    gateway_arn: gateway_of(&action),
                    input: &input(tool, Some(12)),
                })
                .unwrap_or_else(|e| panic!("{action} is not in the Cedar schema: {e}"));
        }
    }
    let unknown = [("custom:tier", "basic")];
    assert!(
        policy
            .permits(&ToolCall {
                subject: SUB,
                claims: &unknown,
                action: "tenantry-basic-tools___drop_tables",
                gateway_arn: BASIC_GATEWAY,
                input: &json!({}),
            })
            .is_err()
    );
}

/// The deployable statements are the shipped policies, one each, annotation-free, and still
/// parse as Cedar with the same meaning (same count, same ids, same scope).
#[test]
fn statements_are_the_shipped_policies_one_by_one() {
    let shipped = gateway_policy::GatewayPolicy::shipped().expect("policies load");
    for s in shipped.statements().unwrap() {
        let tier = if s.id.starts_with("premium") {
            "premium"
        } else {
            "basic"
        };
        assert!(
            s.cedar.contains(&format!(
                "resource == AgentCore::Gateway::\"{}\"",
                gateway_policy::gateway_placeholder(tier)
            )),
            "{} names its tier's Gateway",
            s.id
        );
    }
    let statements = shipped.statements().expect("statements");
    let ids: Vec<&str> = statements.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "basic-clinic-tools-any-hour",
            "basic-patient-data-business-hours",
            "premium-clinic-tools-any-hour",
            "premium-care-tools-any-hour"
        ]
    );
    for s in &statements {
        assert!(!s.cedar.contains('@'), "{}: annotation left in", s.id);
        assert!(s.cedar.trim_start().starts_with("permit"), "{}", s.id);
        let reparsed: cedar_policy::Policy = s.cedar.parse().expect("statement parses alone");
        assert!(reparsed.annotation("id").is_none());
        // AgentCore's length limits for a policy statement.
        assert!((35..=10_000).contains(&s.cedar.len()), "{}", s.id);
    }
}
