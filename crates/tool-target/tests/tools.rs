//! The tool target against the stand-ins: dynalite tables loaded with the synthetic data,
//! scoped credentials from moto STS (AssumeRole calls recorded), tokens from the shared test
//! issuer, and an injected clock. Every tool on both tiers, and every refusal by its code.

mod support;

use emulators::knowledge_base::demo_knowledge_base_id;
use serde_json::{Value, json};
use support::world::*;
use testkit::sdk::config_for;
use testkit::test_issuer::{self, OTHER_KEY};
use tool_target::handler::handle;
use tool_target::runtime::Invocation;

#[tokio::test]
async fn basic_tier_tools_in_business_hours() {
    let w = world("basic", 15).await; // 10:30 in New York (clinic-a)
    let one = w
        .basic("patient_context", json!({"patient_id": "p-1001"}))
        .await;
    assert_eq!(one["patient"]["name"], "Avery Lindqvist", "{one}");

    let page1 = w.basic("patient_context", json!({"limit": 2})).await;
    assert_eq!(patient_ids(&page1), ["p-1001", "p-1002"]);
    let next = page1["next_token"]
        .as_str()
        .expect("a next token")
        .to_owned();
    let page2 = w
        .basic("patient_context", json!({"limit": 2, "next_token": next}))
        .await;
    assert_eq!(patient_ids(&page2), ["p-1003"], "{page2}");

    let cfg = w.basic("clinic_config", json!({})).await;
    assert_eq!(cfg["clinic"]["clinic_id"], "clinic-a");
    assert_eq!(cfg["clinic"]["timezone"], "America/New_York");
    assert_eq!(cfg["clinic"]["business_hours"]["start"], "08:00");

    let time = w.basic("current_time", json!({})).await;
    assert_eq!(time["hour"], 10);
    assert!(
        time["local_time"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-27T10:30:00-05:00")
    );

    // All of it on credentials vended for clinic-a: one AssumeRole, tagged for the tenant.
    assert_eq!(w.sts.count("AssumeRole"), 1);
    let body = &w.sts.bodies()[0];
    assert!(
        body.contains("Tags.member.2.Value=clinic-a") && body.contains("Tags.member.1.Value=basic"),
        "{body}"
    );
}

#[tokio::test]
async fn premium_tier_tools_at_night() {
    let w = world("premium", 5).await; // 23:30 the day before in Chicago (hospital-x)
    let h = headers("premium", "hospital-x");
    let t = |tool: &str| format!("{PREMIUM_TARGET}___{tool}");
    let list = w.call(&t("patient_context"), &h, json!({})).await;
    assert_eq!(patient_ids(&list), ["p-5001", "p-5002", "p-5003"]);
    assert!(list["next_token"].is_null());
    let one = w
        .call(
            &t("patient_context"),
            &h,
            json!({"patient_id": "p-5002", "request_hour": 23}),
        )
        .await;
    assert_eq!(one["patient"]["name"], "Kavya Raman", "{one}");
    let cfg = w.call(&t("clinic_config"), &h, json!({})).await;
    assert!(cfg["clinic"]["business_hours"].is_null());
    assert_eq!(cfg["clinic"]["tier"], "premium");
    assert_eq!(w.call(&t("current_time"), &h, json!({})).await["hour"], 23);
}

#[tokio::test]
async fn basic_tier_is_refused_patient_context_out_of_hours_only() {
    let w = world("hours", 4).await; // 23:30 in New York
    let reply = w
        .basic("patient_context", json!({"patient_id": "p-1001"}))
        .await;
    assert_eq!(code(&reply), "outside_business_hours", "{reply}");
    assert!(!reply.to_string().contains("Avery"));
    assert_eq!(w.basic("current_time", json!({})).await["hour"], 23);
    assert_eq!(
        w.basic("clinic_config", json!({})).await["clinic"]["clinic_id"],
        "clinic-a"
    );
}

#[tokio::test]
async fn another_clinics_patient_is_indistinguishable_from_a_missing_one() {
    let w = world("crossread", 15).await;
    let other = w
        .basic("patient_context", json!({"patient_id": "p-2001"}))
        .await; // clinic-b's
    let missing = w
        .basic("patient_context", json!({"patient_id": "p-0000"}))
        .await;
    assert_eq!(code(&other), "patient_not_found");
    assert_eq!(other, missing);
    let listing = w.basic("patient_context", json!({})).await;
    assert!(
        patient_ids(&listing).iter().all(|id| id.starts_with("p-1")),
        "{listing}"
    );
}

#[tokio::test]
async fn forged_or_disagreeing_tenant_headers_are_refused() {
    let w = world("headers", 15).await;
    let tool = format!("{BASIC_TARGET}___clinic_config");
    for (header, forged) in [
        ("X-Clinic-ID", json!("clinic-b")),
        ("X-Tier", json!("premium")),
        ("X-S3-Prefix", json!("basic-tier/clinic-b/")),
    ] {
        let mut h = headers("basic", "clinic-a");
        h[header] = forged;
        let reply = w.call(&tool, &h, json!({})).await;
        assert_eq!(code(&reply), "tenant_header_mismatch", "{header}: {reply}");
        let mut missing = headers("basic", "clinic-a");
        missing.as_object_mut().unwrap().remove(header);
        assert_eq!(
            code(&w.call(&tool, &missing, json!({})).await),
            "tenant_header_mismatch"
        );
    }
    // Headers that name clinic-b consistently, with clinic-a's token: still clinic-a's token.
    let mut h = headers("basic", "clinic-b");
    h["X-Id-Token"] = json!(token("basic", "clinic-a"));
    assert_eq!(
        code(&w.call(&tool, &h, json!({})).await),
        "tenant_header_mismatch"
    );
    // No token, or a forged one.
    let mut h = headers("basic", "clinic-a");
    h.as_object_mut().unwrap().remove("X-Id-Token");
    assert_eq!(code(&w.call(&tool, &h, json!({})).await), "unauthenticated");
    let mut h = headers("basic", "clinic-a");
    h["X-Id-Token"] = json!(test_issuer::sign_with(
        OTHER_KEY,
        test_issuer::KID,
        &test_issuer::id_claims()
    ));
    assert_eq!(code(&w.call(&tool, &h, json!({})).await), "unauthenticated");
    assert_eq!(
        w.sts.count("AssumeRole"),
        0,
        "no credentials for refused calls"
    );
}

#[tokio::test]
async fn a_target_of_another_tier_is_refused() {
    let w = world("tiers", 15).await;
    let h = headers("basic", "clinic-a");
    let reply = w
        .call(
            &format!("{PREMIUM_TARGET}___patient_context"),
            &h,
            json!({}),
        )
        .await;
    assert_eq!(code(&reply), "target_tier_mismatch");
    let reply = w
        .call("tenantry-gold-tools___patient_context", &h, json!({}))
        .await;
    assert_eq!(code(&reply), "unknown_target");
    let h = headers("premium", "hospital-x");
    let reply = w
        .call(&format!("{BASIC_TARGET}___clinic_config"), &h, json!({}))
        .await;
    assert_eq!(code(&reply), "target_tier_mismatch");
}

#[tokio::test]
async fn next_tokens_of_another_clinic_or_altered_are_refused() {
    let w = world("tokens", 15).await;
    let b = headers("basic", "clinic-b");
    let b_page = w
        .call(
            &format!("{BASIC_TARGET}___patient_context"),
            &b,
            json!({"limit": 1}),
        )
        .await;
    let b_token = b_page["next_token"]
        .as_str()
        .expect("clinic-b has a second page")
        .to_owned();
    let reply = w
        .basic("patient_context", json!({"next_token": b_token}))
        .await;
    assert_eq!(code(&reply), "next_token_other_clinic", "{reply}");

    let a_page = w.basic("patient_context", json!({"limit": 1})).await;
    let a_token = a_page["next_token"].as_str().unwrap().to_owned();
    let (payload, tag) = a_token.split_once('.').unwrap();
    for altered in [
        format!("{payload}A.{tag}"),
        format!("{payload}.{}", tag.replace('A', "B")),
        "garbage".into(),
    ] {
        if altered == a_token {
            continue;
        }
        let reply = w
            .basic("patient_context", json!({"next_token": altered}))
            .await;
        assert_eq!(code(&reply), "next_token_invalid", "{reply}");
    }
}

#[tokio::test]
async fn a_spoofed_request_hour_is_refused() {
    let w = world("spoof", 15).await; // 10:30 in New York
    let reply = w
        .basic(
            "patient_context",
            json!({"patient_id": "p-1001", "request_hour": 9}),
        )
        .await;
    assert_eq!(code(&reply), "request_hour_spoofed");
    // Out of hours, a model told "it is 10" is refused as spoofing, not let in.
    let night = world("spoof-night", 4).await; // 23:30 in New York
    let reply = night
        .basic(
            "patient_context",
            json!({"patient_id": "p-1001", "request_hour": 10}),
        )
        .await;
    assert_eq!(code(&reply), "request_hour_spoofed");
    let ok = w
        .basic(
            "patient_context",
            json!({"patient_id": "p-1001", "request_hour": 10}),
        )
        .await;
    assert_eq!(ok["patient"]["patient_id"], "p-1001");
}

#[tokio::test]
async fn malformed_input_gets_typed_errors() {
    let w = world("malformed", 15).await;
    let h = headers("basic", "clinic-a");
    let cases = [
        (
            format!("{BASIC_TARGET}___drop_tables"),
            json!({}),
            "unknown_tool",
        ),
        (
            format!("{BASIC_TARGET}___send_email"),
            json!({"query": "x"}),
            "unknown_tool",
        ),
        (
            format!("{BASIC_TARGET}___patient_context"),
            json!({"patient_id": 42}),
            "invalid_arguments",
        ),
        (
            format!("{BASIC_TARGET}___patient_context"),
            json!({"clinic_id": "clinic-b"}),
            "invalid_arguments",
        ),
        (
            format!("{BASIC_TARGET}___patient_context"),
            json!({"patient_id": "x".repeat(100 * 1024)}),
            "invalid_arguments",
        ),
        (
            format!("{BASIC_TARGET}___patient_context"),
            json!(["not", "an", "object"]),
            "invalid_arguments",
        ),
        (
            format!("{BASIC_TARGET}___patient_context"),
            json!("text"),
            "invalid_arguments",
        ),
        ("no-separator".to_owned(), json!({}), "bad_tool_name"),
    ];
    for (tool, args, want) in cases {
        let reply = w.call(&tool, &h, args).await;
        assert_eq!(code(&reply), want, "{tool}: {reply:.200}");
    }
    let mut inv = invocation(&format!("{BASIC_TARGET}___clinic_config"), &h, &json!({}));
    inv.client_context = Some("{not json".into());
    assert_eq!(
        code(&handle(inv.clone(), w.deps.clone()).await),
        "bad_client_context"
    );
    inv.client_context = None;
    assert_eq!(
        code(&handle(inv.clone(), w.deps.clone()).await),
        "missing_tool_name"
    );
    let mut inv = invocation(&format!("{BASIC_TARGET}___clinic_config"), &h, &json!({}));
    inv.payload = b"{not json".to_vec().into();
    assert_eq!(
        code(&handle(inv, w.deps.clone()).await),
        "invalid_arguments"
    );
}

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../events/tool-target/", $name)),
        )
    };
}

/// Every event and client context in events/tool-target works as documented.
#[tokio::test]
async fn the_event_fixtures_behave_as_documented() {
    let w = world("fixtures", 15).await; // in business hours for clinic-a
    let files = [
        fixture!("basic-patient_context.json"),
        fixture!("basic-patient_context.client-context.json"),
        fixture!("basic-clinic_config.json"),
        fixture!("basic-clinic_config.client-context.json"),
        fixture!("basic-current_time.json"),
        fixture!("basic-current_time.client-context.json"),
        fixture!("premium-patient_context.json"),
        fixture!("premium-patient_context.client-context.json"),
        fixture!("premium-clinic_config.json"),
        fixture!("premium-clinic_config.client-context.json"),
        fixture!("premium-current_time.json"),
        fixture!("premium-current_time.client-context.json"),
        fixture!("basic-patient_context-other-clinic.json"),
        fixture!("basic-forged-clinic-header.client-context.json"),
    ];
    let get = |name: &str| {
        files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .unwrap()
    };
    let run = |event: &str, context: &str, tier: &str, clinic: &str| {
        let context = context.replace("${ID_TOKEN}", &token(tier, clinic));
        handle(
            Invocation {
                request_id: "fixture".into(),
                deadline_ms: None,
                trace_id: None,
                client_context: Some(context),
                payload: event.as_bytes().to_vec().into(),
            },
            w.deps.clone(),
        )
    };
    for (tier, clinic) in [("basic", "clinic-a"), ("premium", "hospital-x")] {
        for tool in ["patient_context", "clinic_config", "current_time"] {
            let reply = run(
                get(&format!("{tier}-{tool}.json")),
                get(&format!("{tier}-{tool}.client-context.json")),
                tier,
                clinic,
            )
            .await;
            assert!(reply.get("error").is_none(), "{tier} {tool}: {reply}");
        }
    }
    let other = run(
        get("basic-patient_context-other-clinic.json"),
        get("basic-patient_context.client-context.json"),
        "basic",
        "clinic-a",
    )
    .await;
    assert_eq!(code(&other), "patient_not_found");
    let forged = run(
        get("basic-clinic_config.json"),
        get("basic-forged-clinic-header.client-context.json"),
        "basic",
        "clinic-a",
    )
    .await;
    assert_eq!(code(&forged), "tenant_header_mismatch");
}

/// Tokens and patient details never reach the logs; refusals are logged with codes and ids.
#[tokio::test]
async fn tokens_and_patient_data_never_reach_the_logs() {
    // The functions' own filter, as an operator debugging with RUST_LOG=trace would set it.
    let (logs, _guard) = testkit::logs::LogCapture::start(telemetry::logging::filter(Some(
        "trace,aws_smithy_runtime=trace,hyper=trace",
    )));
    let w = world("logs", 15).await;
    let h = headers("basic", "clinic-a");
    let token = h["X-Id-Token"].as_str().unwrap().to_owned();
    let one = w
        .basic("patient_context", json!({"patient_id": "p-1001"}))
        .await;
    assert_eq!(one["patient"]["name"], "Avery Lindqvist");
    w.basic("patient_context", json!({})).await;
    let mut forged = h.clone();
    forged["X-Clinic-ID"] = json!("clinic-b");
    w.call(
        &format!("{BASIC_TARGET}___clinic_config"),
        &forged,
        json!({}),
    )
    .await;

    // Refused after the tenant is verified: the refusal line names the tenant.
    let other = w
        .basic(
            "patient_context",
            json!({"patient_id": OTHER_CLINICS_PATIENT}),
        )
        .await;
    assert_eq!(other["error"]["code"], "patient_not_found");

    let text = logs.text();
    let refusal = text
        .lines()
        .find(|l| l.contains("tool call refused") && l.contains("patient_not_found"))
        .unwrap_or_else(|| panic!("no refusal line: {text}"));
    assert!(
        refusal.contains("clinic-a") && refusal.contains("basic"),
        "the refusal is attributed to its tenant: {refusal}"
    );
    assert!(
        text.contains("tenant_header_mismatch"),
        "the security event is logged: {text}"
    );
    assert!(text.contains("clinic-a"), "with the tenant's ids");
    assert!(
        !text.contains(&token) && !text.contains("eyJ"),
        "no token in the logs"
    );
    for detail in [
        "Avery",
        "Lindqvist",
        "1984-03-12",
        "hypertension",
        "penicillin",
    ] {
        let leaks: Vec<&str> = text.lines().filter(|l| l.contains(detail)).collect();
        assert!(
            leaks.is_empty(),
            "patient detail {detail} reached the logs: {leaks:?}"
        );
    }
}

fn sources(reply: &Value) -> Vec<String> {
    reply["documents"]
        .as_array()
        .unwrap_or_else(|| panic!("no documents in {reply}"))
        .iter()
        .map(|d| d["source"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn documents_come_from_the_callers_own_clinic_only() {
    let w = world("documents", 15).await; // 10:30 in New York, 09:30 in Chicago
    let reply = w
        .basic(
            "retrieve_clinic_documents",
            json!({"query": "lab results HbA1c", "request_hour": 10}),
        )
        .await;
    let found = sources(&reply);
    assert!(!found.is_empty(), "{reply}");
    for s in &found {
        assert!(s.contains("/basic-tier/clinic-a/"), "{s}");
    }
    assert!(
        reply["documents"][0]["excerpt"]
            .as_str()
            .unwrap()
            .contains("clinic-a")
    );
    // The filter was the verified clinic, built by the target: never absent, never another.
    let calls = w.kb.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].filter,
        Some(json!({"equals": {"key": "clinic_id", "value": "clinic-a"}}))
    );
    // A premium hospital on its own target: its own documents, from its tier's base.
    let x = w
        .call(
            &format!("{PREMIUM_TARGET}___retrieve_clinic_documents"),
            &headers("premium", "hospital-x"),
            json!({"query": "imaging study impression"}),
        )
        .await;
    for s in sources(&x) {
        assert!(s.contains("/premium-tier/hospital-x/"), "{s}");
    }
    assert_eq!(
        w.kb.calls()[1].knowledge_base_id,
        demo_knowledge_base_id("premium")
    );
    // Naming another clinic in the query changes nothing.
    let sneaky = w
        .basic(
            "retrieve_clinic_documents",
            json!({"query": "clinic-b Harbour View lab results", "request_hour": 10}),
        )
        .await;
    for s in sources(&sneaky) {
        assert!(s.contains("/clinic-a/"), "{s}");
    }
    // An argument naming another clinic is refused outright.
    let forged = w
        .basic(
            "retrieve_clinic_documents",
            json!({"query": "lab", "clinic_id": "clinic-b"}),
        )
        .await;
    assert_eq!(code(&forged), "invalid_arguments");
}

#[tokio::test]
async fn basic_documents_follow_business_hours() {
    let w = world("documents-hours", 1).await; // 20:30 in New York
    let reply = w
        .basic("retrieve_clinic_documents", json!({"query": "lab results"}))
        .await;
    assert_eq!(code(&reply), "outside_business_hours");
    assert!(w.kb.calls().is_empty(), "refused before the knowledge base");
}

#[tokio::test]
async fn web_search_is_premium_only_and_keeps_patient_ids_in() {
    let w = world("web-search", 15).await;
    let x = w
        .call(
            &format!("{PREMIUM_TARGET}___web_search"),
            &headers("premium", "hospital-x"),
            json!({"query": "latest atrial fibrillation guidance"}),
        )
        .await;
    assert!(x["count"].as_u64().unwrap() > 0, "{x}");
    assert!(
        x["results"][0]["title"]
            .as_str()
            .unwrap()
            .contains("stand-in")
    );
    let leak = w
        .call(
            &format!("{PREMIUM_TARGET}___web_search"),
            &headers("premium", "hospital-x"),
            json!({"query": "guidance for patient p-5001"}),
        )
        .await;
    assert_eq!(code(&leak), "invalid_arguments");
    // A basic clinic on its own target: not one of its tier's tools.
    let basic = w
        .basic("web_search", json!({"query": "asthma guidance"}))
        .await;
    assert_eq!(code(&basic), "tool_not_in_tier");
}

/// The user's role is enforced here as well as by Cedar, from the tier file: every role of the
/// file (and one it does not list) against every tool of the premium tier (no business hours).
/// An admin manages the clinic and never reads patient records or documents.
#[tokio::test]
async fn each_role_uses_only_its_tools() {
    let w = world("roles", 15).await;
    let catalog = tenant_context::TierCatalog::embedded().unwrap();
    let premium = catalog
        .config(&catalog.tier("premium").unwrap())
        .unwrap()
        .clone();
    let mut roles: Vec<String> = catalog.roles().map(|(r, _)| r.to_string()).collect();
    assert!(roles.iter().any(|r| r == "admin"));
    roles.push("front_desk".into()); // not in the tier file: may use nothing
    let args = |tool: &str| match tool {
        "patient_context" => json!({"patient_id": "p-2001"}),
        "retrieve_clinic_documents" | "web_search" => json!({"query": "discharge checklist"}),
        _ => json!({}),
    };
    let mut refused_for_role = 0;
    for role in &roles {
        let mut claims = test_issuer::id_claims();
        claims["custom:tier"] = "premium".into();
        claims["custom:clinic_id"] = "hospital-x".into();
        claims["custom:role"] = role.as_str().into();
        let mut h = headers("premium", "hospital-x");
        h["X-Id-Token"] = test_issuer::sign(&claims).into();
        for tool in &premium.tools {
            let reply = w
                .call(&format!("{PREMIUM_TARGET}___{tool}"), &h, args(tool))
                .await;
            let allowed = catalog.role_allows(&tenant_context::Role::parse(role).unwrap(), tool);
            if allowed {
                assert_ne!(code(&reply), "tool_not_for_role", "{role} {tool}: {reply}");
            } else {
                assert_eq!(code(&reply), "tool_not_for_role", "{role} {tool}: {reply}");
                assert!(reply.get("patients").is_none() && reply.get("patient").is_none());
                refused_for_role += 1;
            }
        }
    }
    // admin: patient_context, documents, web search; front_desk: all five.
    assert_eq!(refused_for_role, 3 + premium.tools.len());
}

/// The clinic's row is read only when a rule or the tool needs it: premium patient records (no
/// business hours, no claimed hour) make no ClinicConfig read, so they keep working without the
/// row, while the tools that answer from it say the clinic is misconfigured.
#[tokio::test]
async fn premium_patient_records_do_not_read_the_clinic_row() {
    let w = world("no-clinic-row", 3).await;
    let ddb = aws_sdk_dynamodb::Client::new(&config_for(
        endpoints().dynamodb_url.as_deref().expect("dynalite url"),
    ));
    ddb.delete_item()
        .table_name(&w.deps.tables.clinic_table)
        .key(
            "clinic_id",
            aws_sdk_dynamodb::types::AttributeValue::S("hospital-x".into()),
        )
        .send()
        .await
        .expect("delete hospital-x's clinic row");
    let h = headers("premium", "hospital-x");
    let call = |tool: &str, args: Value| {
        let h = h.clone();
        let w = &w;
        let tool = format!("{PREMIUM_TARGET}___{tool}");
        async move { w.call(&tool, &h, args).await }
    };
    let one = call("patient_context", json!({"patient_id": "p-5001"})).await;
    assert_eq!(one["patient"]["patient_id"], "p-5001", "{one}");
    let page = call("patient_context", json!({"limit": 2})).await;
    assert_eq!(page["count"], 2, "{page}");
    for tool in ["clinic_config", "current_time"] {
        let reply = call(tool, json!({})).await;
        assert_eq!(code(&reply), "clinic_misconfigured", "{tool}: {reply}");
    }
    // A claimed hour is checked against the clinic's clock, so it needs the row.
    let claimed = call(
        "patient_context",
        json!({"patient_id": "p-5001", "request_hour": 3}),
    )
    .await;
    assert_eq!(code(&claimed), "clinic_misconfigured", "{claimed}");
}

/// A token that outlives its clinic's suspension opens nothing here: the registry is read (in
/// deployments through the authorizer's short cache) before any row is, and a registry that
/// cannot be read refuses too.
#[tokio::test]
async fn a_suspended_clinics_token_reads_nothing() {
    let w = world("suspended", 15).await;
    let ok = w
        .basic("patient_context", json!({"patient_id": "p-1001"}))
        .await;
    assert_eq!(ok["patient"]["name"], "Avery Lindqvist", "{ok}");
    let clinic = tenant_context::ClinicId::parse("clinic-a").unwrap();
    w.registry
        .set_status(&clinic, tenant_registry::TenantStatus::Suspended)
        .await
        .unwrap();
    for (tool, args) in [
        ("patient_context", json!({"patient_id": "p-1001"})),
        ("clinic_config", json!({})),
    ] {
        let refused = w.basic(tool, args).await;
        assert_eq!(
            refused["error"]["code"], "tenant_not_served",
            "{tool}: {refused}"
        );
        assert!(!refused.to_string().contains("Avery"), "{refused}");
    }
    // Another clinic is unaffected.
    let b = w
        .call(
            &format!("{BASIC_TARGET}___clinic_config"),
            &headers("basic", "clinic-b"),
            json!({}),
        )
        .await;
    assert_eq!(b["clinic"]["clinic_id"], "clinic-b", "{b}");
    w.registry.delete(&clinic).await.unwrap();
    let gone = w.basic("clinic_config", json!({})).await;
    assert_eq!(gone["error"]["code"], "tenant_not_served", "{gone}");
}
