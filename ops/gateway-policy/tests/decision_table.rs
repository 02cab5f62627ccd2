//! The Cedar policies shipped in infra/policies against the full table: each caller (each
//! tier's runtime role, as a session and as the role ARN, and other principals) x each target
//! tier x each tool x hours 7, 8, 17, 18, 23. The expected answer is not typed here again: it
//! comes from the tier file (`TierConfig::allows_tool_at`), so the policies and
//! infra/tiers.json cannot drift apart unnoticed.

use gateway_policy::{Deployed, GatewayPolicy, ToolCall};
use serde_json::{Value, json};
use tenant_context::TierCatalog;

const BASIC_GATEWAY: &str =
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/tenantry-basic-gw-abcdefghij";
const PREMIUM_GATEWAY: &str =
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/tenantry-premium-gw-klmnopqrst";

/// The policies as the deployed Gateways evaluate them (each tier's Gateway ARN filled in).
fn deployed() -> GatewayPolicy {
    GatewayPolicy::for_gateways(&[
        Deployed {
            tier: "basic",
            gateway_arn: BASIC_GATEWAY,
            runtime_role: BASIC_ROLE,
        },
        Deployed {
            tier: "premium",
            gateway_arn: PREMIUM_GATEWAY,
            runtime_role: PREMIUM_ROLE,
        },
    ])
    .expect("policies load")
}

const BASIC_ROLE: &str = "tenantry-BasicRuntimeRole-AbC123";
const PREMIUM_ROLE: &str = "tenantry-PremiumRuntimeRole-DeF456";

/// A session of a role, as STS names the caller.
fn session(role: &str) -> String {
    format!("arn:aws:sts::123456789012:assumed-role/{role}/a1b2c3")
}

fn role_of(tier: &str) -> &'static str {
    if tier == "premium" {
        PREMIUM_ROLE
    } else {
        BASIC_ROLE
    }
}

/// The Gateway that serves an action: the one of the action's target's tier.
fn gateway_of(action: &str) -> &'static str {
    if action.starts_with("tenantry-premium-tools___") {
        PREMIUM_GATEWAY
    } else {
        BASIC_GATEWAY
    }
}
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

fn permits(policy: &GatewayPolicy, principal: &str, action: &str, input: &Value) -> bool {
    permits_on(policy, gateway_of(action), principal, action, input)
}

fn permits_on(
    policy: &GatewayPolicy,
    gateway_arn: &str,
    principal_arn: &str,
    action: &str,
    input: &Value,
) -> bool {
    policy
        .permits(&ToolCall {
            principal_arn,
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
        let caller = session(role_of(tier));
        let action = format!("tenantry-{tier}-tools___clinic_config");
        assert!(
            permits(&policy, &caller, &action, &json!({})),
            "{tier} on its own Gateway"
        );
        for gateway in [other_gateway, foreign] {
            assert!(
                !permits_on(&policy, gateway, &caller, &action, &json!({})),
                "{tier} on {gateway}"
            );
        }
        assert!(
            !permits(&unnamed, &caller, &action, &json!({})),
            "{tier}: unnamed Gateways and roles permit nothing"
        );
    }
}

#[test]
fn full_table_caller_x_tool_x_hour_matches_the_tier_file() {
    let policy = deployed();
    let catalog = TierCatalog::embedded().unwrap();
    let mut checked = 0;
    let mut permitted = 0;
    for (caller_tier, _) in catalog.iter() {
        let role = role_of(caller_tier.as_str());
        // A session of the role and the role itself: which of the two AgentCore puts in
        // `principal.id` is an open check (docs/deploying.md); both are the tier's runtime.
        for caller in [
            session(role),
            format!("arn:aws:iam::123456789012:role/{role}"),
        ] {
            for (target_tier, target) in catalog.iter() {
                for tool in TOOLS {
                    let action = format!("{}___{tool}", target.gateway_target);
                    for hour in HOURS {
                        let expected =
                            caller_tier == target_tier && target.allows_tool_at(tool, hour);
                        let got = permits(&policy, &caller, &action, &input(tool, Some(hour)));
                        assert_eq!(got, expected, "{caller}, {action}, {hour}:00");
                        checked += 1;
                        permitted += usize::from(got);
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 2 * 2 * TOOLS.len() * HOURS.len());
    assert!(
        permitted > 0,
        "the table exercises permits as well as denials"
    );
}

#[test]
fn the_design_rules_hold_explicitly() {
    let policy = deployed();
    let basic = session(BASIC_ROLE);
    let premium = session(PREMIUM_ROLE);
    let b = |tool: &str| format!("tenantry-basic-tools___{tool}");
    let p = |tool: &str| format!("tenantry-premium-tools___{tool}");
    let patient = |h| input("patient_context", h);
    // basic patient_context only 08:00-18:00, and never without an hour to check
    for (hour, open) in [
        (Some(7), false),
        (Some(8), true),
        (Some(17), true),
        (Some(18), false),
        (None, false),
    ] {
        assert_eq!(
            permits(&policy, &basic, &b("patient_context"), &patient(hour)),
            open,
            "{hour:?}"
        );
    }
    // premium 24/7, with or without an hour
    assert!(permits(
        &policy,
        &premium,
        &p("patient_context"),
        &patient(Some(23))
    ));
    assert!(permits(
        &policy,
        &premium,
        &p("patient_context"),
        &patient(None)
    ));
    // clinic_config for both
    assert!(permits(&policy, &basic, &b("clinic_config"), &json!({})));
    assert!(permits(&policy, &premium, &p("clinic_config"), &json!({})));
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
fn callers_other_than_the_tiers_runtime_role_are_denied_everything() {
    let policy = deployed();
    let others = [
        // another role of the account, and the proxy's
        session("tenantry-RequestProxyRole-XyZ789"),
        // a role whose name extends the runtime role's
        session(&format!("{BASIC_ROLE}-copy")),
        // the runtime role's name as another role's session name
        format!("arn:aws:sts::123456789012:assumed-role/someone/{BASIC_ROLE}"),
        // an IAM user of that name
        format!("arn:aws:iam::123456789012:user/{BASIC_ROLE}"),
        // a user's JWT subject
        "6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11".to_owned(),
        String::new(),
    ];
    for caller in &others {
        for target in ["tenantry-basic-tools", "tenantry-premium-tools"] {
            for tool in TOOLS {
                let action = format!("{target}___{tool}");
                assert!(
                    !permits(&policy, caller, &action, &input(tool, Some(12))),
                    "{caller:?} {action}"
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
            let caller = session(role_of(tier.as_str()));
            // An action missing from the schema makes the request invalid (an error, not a deny).
            policy
                .permits(&ToolCall {
                    principal_arn: &caller,
                    action: &action,
                    gateway_arn: gateway_of(&action),
                    input: &input(tool, Some(12)),
                })
                .unwrap_or_else(|e| panic!("{action} is not in the Cedar schema: {e}"));
        }
    }
    let caller = session(BASIC_ROLE);
    assert!(
        policy
            .permits(&ToolCall {
                principal_arn: &caller,
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
        assert!(
            s.cedar
                .contains(&gateway_policy::runtime_role_placeholder(tier)),
            "{} names its tier's runtime role",
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
            "premium-tools-any-hour"
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
