//! Static checks of the TVM role's policy documents (infra/policies). The stand-ins evaluate no
//! IAM, so these checks and the opt-in live test are what stand behind the IAM layer.
//!
//! The strongest check renders every `${aws:PrincipalTag/...}` with a sample tenant's session
//! tags, exactly as IAM would, and compares the result with the names the code derives for
//! that tenant (actor id, memory namespaces, S3 prefix): one rule, not two copies of it.

use std::collections::BTreeSet;

use serde_json::Value;
use tenant_context::{MemorySessionId, RuntimeSessionId, TenantContext, TierCatalog};

/// The tenant role of tool-target's vending function (data and documents scopes).
const DATA: &str = include_str!("../../../infra/policies/tvm-data-permissions.json");
/// The tenant role of the agents' vending function (memory scope).
const MEMORY: &str = include_str!("../../../infra/policies/tvm-memory-permissions.json");
const TRUST: &str = include_str!("../../../infra/policies/tvm-role-trust.json");
const PLACEHOLDERS: [&str; 7] = [
    "VendingRoleArn",
    "NamePrefix",
    "PatientMetadataTableArn",
    "ClinicConfigTableArn",
    "Partition",
    "Region",
    "AccountId",
];

fn doc(text: &str) -> Value {
    serde_json::from_str(text).expect("policy is JSON")
}

fn statements(doc: &Value) -> Vec<&Value> {
    doc["Statement"]
        .as_array()
        .expect("Statement array")
        .iter()
        .collect()
}

/// A string or a list of strings, as IAM allows.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn principal_tags(text: &str) -> BTreeSet<String> {
    text.split("${aws:PrincipalTag/")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(k, _)| k.to_owned()))
        .collect()
}

fn sample() -> TenantContext {
    let catalog = TierCatalog::embedded().unwrap();
    TenantContext::parse(
        &catalog,
        "premium",
        "hospital-x",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "clinician",
    )
    .unwrap()
}

/// What IAM does with policy variables, for this tenant's session tags.
fn render(s: &str, ctx: &TenantContext) -> String {
    ctx.session_tags().iter().fold(s.to_owned(), |acc, (k, v)| {
        acc.replace(&format!("${{aws:PrincipalTag/{k}}}"), v)
    })
}

fn code_tag_keys() -> BTreeSet<String> {
    sample()
        .session_tags()
        .iter()
        .map(|(k, _)| (*k).to_owned())
        .collect()
}

fn condition_values(stmt: &Value, operator: &str, key: &str) -> Vec<String> {
    strings(&stmt["Condition"][operator][key])
}

fn find<'a>(doc: &'a Value, sid: &str) -> &'a Value {
    statements(doc)
        .into_iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("statement {sid}"))
}

#[test]
fn every_statement_is_scoped_by_a_principal_tag() {
    for s in statements(&doc(DATA))
        .into_iter()
        .chain(statements(&doc(MEMORY)))
    {
        assert_eq!(s["Effect"], "Allow", "{s}");
        let in_condition = !principal_tags(&s["Condition"].to_string()).is_empty();
        // S3 has no condition key for an object's path: object grants are scoped by resource,
        // and every one of their resources must carry the tenant's tags.
        let object_only = strings(&s["Action"]).iter().all(|a| a == "s3:GetObject");
        let in_every_resource = strings(&s["Resource"])
            .iter()
            .all(|r| principal_tags(r).contains("ClinicId"));
        assert!(
            in_condition || (object_only && in_every_resource),
            "statement {} has no PrincipalTag condition",
            s["Sid"]
        );
    }
}

#[test]
fn no_wildcard_action_no_scan_no_escalation() {
    for text in [DATA, MEMORY, TRUST] {
        for s in statements(&doc(text)) {
            assert!(
                s.get("NotAction").is_none() && s.get("NotResource").is_none(),
                "{s}"
            );
            for action in strings(&s["Action"]) {
                assert!(!action.contains('*'), "wildcard action {action}");
                assert_ne!(action.to_ascii_lowercase(), "dynamodb:scan");
                assert!(!action.starts_with("iam:"), "{action}");
            }
        }
    }
    assert!(!DATA.contains("dynamodb:Scan") && !MEMORY.contains("dynamodb:Scan"));
}

/// Each tenant role grants only the services of its vending function's scopes, so a caller
/// asking the other function for another scope would get nothing from IAM either.
#[test]
fn each_tenant_role_grants_only_its_scopes_services() {
    let services = |text: &str| -> BTreeSet<String> {
        statements(&doc(text))
            .iter()
            .flat_map(|s| strings(&s["Action"]))
            .filter_map(|a| a.split_once(':').map(|(svc, _)| svc.to_owned()))
            .collect()
    };
    assert_eq!(services(DATA), BTreeSet::from(["dynamodb".to_owned()]));
    assert_eq!(
        services(MEMORY),
        BTreeSet::from(["bedrock-agentcore".to_owned()])
    );
}

#[test]
fn tag_names_are_the_ones_the_code_sends() {
    let used: BTreeSet<String> = principal_tags(&format!("{DATA}{MEMORY}"));
    assert_eq!(
        used,
        code_tag_keys(),
        "permissions use exactly the code's session tags"
    );
    let trust = doc(TRUST);
    let s = &statements(&trust)[0];
    let requested: BTreeSet<String> = s["Condition"]["StringLike"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|k| k.strip_prefix("aws:RequestTag/").map(str::to_owned))
        .collect();
    assert_eq!(
        requested,
        code_tag_keys(),
        "trust requires every tag the code sends"
    );
    let allowed: BTreeSet<String> = condition_values(s, "ForAllValues:StringEquals", "aws:TagKeys")
        .into_iter()
        .collect();
    assert_eq!(allowed, code_tag_keys(), "and no other tag keys");
}

#[test]
fn trust_admits_only_the_vending_function_to_assume_and_tag() {
    let trust = doc(TRUST);
    let stmts = statements(&trust);
    assert_eq!(stmts.len(), 1);
    let s = stmts[0];
    assert_eq!(
        s["Principal"],
        serde_json::json!({"AWS": "{{VendingRoleArn}}"})
    );
    let actions: BTreeSet<String> = strings(&s["Action"]).into_iter().collect();
    assert_eq!(
        actions,
        BTreeSet::from(["sts:AssumeRole".to_owned(), "sts:TagSession".to_owned()])
    );
}

#[test]
fn dynamodb_access_is_limited_to_the_tenants_partition() {
    let p = doc(DATA);
    let s = find(&p, "TenantRowsOnly");
    assert_eq!(
        condition_values(s, "ForAllValues:StringEquals", "dynamodb:LeadingKeys"),
        ["${aws:PrincipalTag/ClinicId}"]
    );
    assert_eq!(s["Condition"]["Null"]["dynamodb:LeadingKeys"], "false");
    let ctx = sample();
    assert_eq!(
        render(
            &condition_values(s, "ForAllValues:StringEquals", "dynamodb:LeadingKeys")[0],
            &ctx
        ),
        ctx.clinic_id().as_str()
    );
}

#[test]
fn memory_conditions_are_the_codes_actor_id_and_namespaces() {
    let p = doc(MEMORY);
    let ctx = sample();
    let events = find(&p, "OwnMemoryEventsOnly");
    let actor = condition_values(events, "StringEquals", "bedrock-agentcore:actorId");
    assert_eq!(actor.len(), 1);
    assert_eq!(render(&actor[0], &ctx), ctx.actor_id().as_str());

    // Every namespace any tier's strategies use, for this tenant, with `*` for the session.
    let session = MemorySessionId::from_runtime(&RuntimeSessionId::parse(&"s".repeat(40)).unwrap());
    let mut from_code = BTreeSet::new();
    for (_, tier) in TierCatalog::embedded().unwrap().iter() {
        for strategy in &tier.memory.strategies {
            let ns = ctx.memory_namespace(strategy, Some(&session)).unwrap();
            from_code.insert(ns.replace(session.as_str(), "*"));
        }
    }
    let records = find(&p, "OwnMemoryRecordsOnly");
    let from_policy: BTreeSet<String> =
        condition_values(records, "StringLike", "bedrock-agentcore:namespace")
            .iter()
            .map(|n| render(n, &ctx))
            .collect();
    assert_eq!(from_policy, from_code);

    // Only the stack's memory of the tenant's own tier, whose ids the template names
    // `<prefix>_<tier>_memory-<suffix>`.
    for stmt in [events, records] {
        let resources = strings(&stmt["Resource"]);
        assert_eq!(resources.len(), 1);
        let rendered = render(&resources[0], &ctx).replace("{{NamePrefix}}", "tenantry");
        assert!(
            rendered.ends_with(":memory/tenantry_premium_memory-*"),
            "{rendered}"
        );
    }
}

/// Only the vending function's role may assume the tenant role. That it does so from inside
/// the function is pinned on that role's own policy (`lambda:SourceFunctionArn`, a key AWS
/// documents for identity-based policies only: in a trust policy it is never present, and
/// every AssumeRole would be denied). `aws-conformance`'s IAM check holds the rule for every
/// trust policy of the stack; the pin itself is checked on the rendered template
/// (`infra-template::template::vending_roles_assume_tenant_roles_from_inside_their_function_only`).
#[test]
fn the_trust_names_the_vending_role_and_no_identity_only_key() {
    let trust = doc(TRUST);
    let statement = &trust["Statement"][0];
    assert_eq!(statement["Principal"]["AWS"], "{{VendingRoleArn}}");
    assert!(
        !TRUST.contains("lambda:SourceFunctionArn"),
        "lambda:SourceFunctionArn cannot be used in a trust policy"
    );
}

/// Documents are searched through Retrieve with tool-target's own role (filtered by the
/// verified clinic); the tenant roles hold no S3 permission at all.
#[test]
fn the_tenant_roles_grant_no_document_access() {
    for text in [DATA, MEMORY] {
        let p = doc(text);
        for statement in p["Statement"].as_array().unwrap() {
            assert!(
                !statement["Action"].to_string().contains("s3:"),
                "{statement}"
            );
        }
    }
}

#[test]
fn placeholders_are_the_documented_ones() {
    for text in [DATA, MEMORY, TRUST] {
        for piece in text.split("{{").skip(1) {
            let name = piece.split_once("}}").map(|(n, _)| n).unwrap_or_default();
            assert!(PLACEHOLDERS.contains(&name), "unknown placeholder {name}");
        }
    }
}
