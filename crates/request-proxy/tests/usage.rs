//! `GET /usage` and the request counter, on the DynamoDB stand-in: the caller's clinic only
//! (never one a query parameter or header names), rows only for roles that see usage, and a
//! counting failure never costs the clinician the answer.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;
use tenant_context::{ClinicId, TierCatalog};
use usage_meter::UsageMeter;
use wiremock::ResponseTemplate;

const USAGE_EVENT: &str = fixture!("usage-clinic-a.json");
const INVOKE_EVENT: &str = fixture!("invoke-clinic-a.json");
const MALFORMED_EVENT: &str = fixture!("invoke-malformed-body.json");

async fn meter() -> UsageMeter {
    let endpoints = testkit::endpoints_or_panic();
    let table = testkit::dynamo::create_usage_table(&endpoints, "proxy-usage")
        .await
        .unwrap();
    UsageMeter::new(testkit::dynamo::client(&endpoints).unwrap(), table)
}

/// The usage event as another user of clinic-a with `role` (its token says the same).
async fn busy_clinic_b(m: &UsageMeter) {
    let catalog = TierCatalog::embedded().unwrap();
    let basic = catalog.tier("basic").unwrap();
    let b = ClinicId::parse("clinic-b").unwrap();
    let today = usage_meter::utc_today();
    for _ in 0..9 {
        m.count_request(&basic, &b, today).await.unwrap();
    }
    m.add_turn(&basic, &b, today, 987_654, 123_456, 4.2)
        .await
        .unwrap();
    // And most of its token budget.
    let budget = TierCatalog::embedded()
        .unwrap()
        .config(&basic)
        .unwrap()
        .token_budget;
    usage_meter::budget::TokenBudgets::new(m.clone())
        .reserve(&b, budget, budget.daily_tokens - 7, today)
        .await
        .unwrap();
}

#[tokio::test]
async fn invocations_are_counted_and_usage_names_the_callers_clinic_only() {
    let m = meter().await;
    busy_clinic_b(&m).await;
    let runtime = runtime(ResponseTemplate::new(200).set_body_string("{}")).await;
    let deps = deps_with_usage(&runtime.uri(), Duration::from_secs(5), m.clone());
    for _ in 0..2 {
        let (status, _, _) = call(deps.clone(), INVOKE_EVENT).await;
        assert_eq!(status, 200);
    }
    // Refused by the proxy, but API Gateway's quota counted it: so does the counter.
    let (status, _, _) = call(deps.clone(), MALFORMED_EVENT).await;
    assert_eq!(status, 400);

    // A clinician: the day's quota of clinic-a, although the request names clinic-b twice.
    let (status, headers, body) = call(deps.clone(), USAGE_EVENT).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["cache-control"], "no-store");
    let reply: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(reply["clinic_id"], "clinic-a");
    assert_eq!(reply["tier"], "basic");
    let limit = TierCatalog::embedded()
        .unwrap()
        .config(&TierCatalog::embedded().unwrap().tier("basic").unwrap())
        .unwrap()
        .usage_plan
        .quota
        .limit;
    assert_eq!(reply["quota"]["limit"], limit);
    assert_eq!(reply["quota"]["used"], 3);
    assert_eq!(reply["quota"]["remaining"], u64::from(limit) - 3);
    assert_eq!(reply["quota"]["period"], "DAY");
    // Every role sees the clinic's tokens used and left; clinic-a's, not clinic-b's.
    let budget = TierCatalog::embedded()
        .unwrap()
        .config(&TierCatalog::embedded().unwrap().tier("basic").unwrap())
        .unwrap()
        .token_budget;
    assert_eq!(reply["tokens"]["day"]["used"], 0, "{reply}");
    assert_eq!(reply["tokens"]["day"]["limit"], budget.daily_tokens);
    assert!(
        reply["tokens"]["day_resets_at"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );
    assert_eq!(
        reply["tokens"]["month"]["limit"],
        budget.monthly_tokens.unwrap()
    );
    assert!(
        reply["quota"]["resets_at"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );
    assert!(
        reply.get("days").is_none(),
        "a clinician sees no usage rows"
    );

    // The clinic's admin: the rows, clinic-a's own, never clinic-b's.
    let (status, _, body) = call(deps.clone(), &as_role(USAGE_EVENT, "admin")).await;
    assert_eq!(status, 200);
    let reply: Value = serde_json::from_slice(&body).unwrap();
    let days = reply["days"].as_array().expect("an admin sees the rows");
    assert_eq!(days.len(), 1, "{reply}");
    assert_eq!(days[0]["requests"], 3);
    let text = String::from_utf8_lossy(&body);
    for other in ["clinic-b", "987654", "123456", "4.2"] {
        assert!(!text.contains(other), "clinic-b's {other} in {text}");
    }
}

#[tokio::test]
async fn usage_is_refused_without_the_checks_of_an_invocation() {
    let m = meter().await;
    let deps = deps_with_usage("http://127.0.0.1:9", Duration::from_secs(1), m);
    // Another clinic's token with clinic-a's authorizer context: the token is not the one the
    // authorizer verified.
    let mut v: Value = serde_json::from_str(USAGE_EVENT).unwrap();
    let mut claims = clinic_a_claims();
    claims["custom:clinic_id"] = "clinic-b".into();
    let forged = format!("Bearer {}", unsigned_token(&claims));
    v["headers"]["Authorization"] = forged.clone().into();
    v["multiValueHeaders"]["Authorization"] = json!([forged]);
    let (status, _, body) = call(deps.clone(), &v.to_string()).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (401, "token_mismatch")
    );

    let mut v: Value = serde_json::from_str(USAGE_EVENT).unwrap();
    v["requestContext"]["authorizer"] = json!({});
    let (status, _, body) = call(deps.clone(), &v.to_string()).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "no_tenant"));

    let mut v: Value = serde_json::from_str(USAGE_EVENT).unwrap();
    v["httpMethod"] = "DELETE".into();
    v["requestContext"]["httpMethod"] = "DELETE".into();
    let (status, _, body) = call(deps, &v.to_string()).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (405, "method_not_allowed")
    );
}

#[tokio::test]
async fn without_counters_usage_is_a_typed_error_and_the_answer_still_comes() {
    // No table configured.
    let runtime = runtime(ResponseTemplate::new(200).set_body_string("{}")).await;
    let deps = support::deps(&runtime.uri(), Duration::from_secs(5));
    let (status, _, body) = call(deps, USAGE_EVENT).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (501, "usage_not_configured")
    );

    // A table that cannot be written or read: the invocation is answered all the same.
    let endpoints = testkit::endpoints_or_panic();
    let broken = UsageMeter::new(
        testkit::dynamo::client(&endpoints).unwrap(),
        "no-such-usage-table",
    );
    let deps = deps_with_usage(&runtime.uri(), Duration::from_secs(5), broken);
    let (status, _, _) = call(deps.clone(), INVOKE_EVENT).await;
    assert_eq!(status, 200, "a counting failure must not cost the answer");
    let (status, _, body) = call(deps, USAGE_EVENT).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (503, "usage_unavailable")
    );
    let message = serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"].clone();
    assert!(
        !message.as_str().unwrap().contains("no-such-usage-table"),
        "{message}"
    );
}

/// The agent's `budget_exhausted` refusal reaches the clinic as 429 with the reason `budget`
/// and the reset time (body and `Retry-After`), never as the usage plan's or the runtime's
/// throttling; whether AgentCore passes the container's 429 on or wraps it in a
/// RuntimeClientError (424) is open, and both are recognised.
#[tokio::test]
async fn a_clinic_over_its_budget_gets_429_budget_with_the_reset_time() {
    let refusal = json!({"error": {
        "code": "budget_exhausted",
        "message": "the clinic's daily token budget is used up; it starts again at 2026-12-08T00:00:00Z",
        "retryable": true,
        "resets_at": "2026-12-08T00:00:00Z"
    }});
    let wrapped = json!({"message": refusal.to_string()});
    for reply in [
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "3600")
            .set_body_json(&refusal),
        ResponseTemplate::new(424)
            .insert_header("Retry-After", "3600")
            .set_body_json(&wrapped),
    ] {
        let server = runtime(reply).await;
        let (status, headers, body) = call(
            deps(&server.uri(), Duration::from_secs(5)),
            fixture!("invoke-clinic-a.json"),
        )
        .await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["error"]["code"], "budget_exhausted", "{body}");
        assert_eq!(body["error"]["reason"], "budget");
        assert_eq!(body["error"]["resets_at"], "2026-12-08T00:00:00Z");
        assert_eq!(headers.get("retry-after").unwrap(), "3600");
    }
    // A throttled runtime is not the clinic's budget: no reason, no reset time.
    let server = runtime(ResponseTemplate::new(429).insert_header("Retry-After", "7")).await;
    let (status, _, body) = call(
        deps(&server.uri(), Duration::from_secs(5)),
        fixture!("invoke-clinic-a.json"),
    )
    .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("runtime_throttled"))
    );
    assert!(body["error"].get("reason").is_none(), "{body}");
}

/// A clinic's own budget (set by the provider in the registry) is the one `GET /usage` shows;
/// a clinic without one sees its tier's.
#[tokio::test]
async fn usage_shows_the_clinics_own_budget_when_the_provider_set_one() {
    let endpoints = testkit::endpoints_or_panic();
    let registry_table = testkit::dynamo::create_demo_registry(&endpoints, "proxy-budget")
        .await
        .unwrap();
    let registry = tenant_registry::TenantRegistry::new(
        testkit::dynamo::client(&endpoints).unwrap(),
        &registry_table,
    );
    let own = tenant_context::TokenBudget {
        daily_tokens: 1_234,
        monthly_tokens: None,
    };
    registry
        .set_budget(&ClinicId::parse("clinic-a").unwrap(), Some(own))
        .await
        .unwrap();
    let base = deps_with_usage("http://127.0.0.1:9", Duration::from_secs(1), meter().await);
    let mut deps = std::sync::Arc::try_unwrap(base).unwrap_or_else(|_| panic!("one owner"));
    deps.registry = Some(registry.clone());
    let deps = std::sync::Arc::new(deps);
    let (status, _, body) = call(deps.clone(), USAGE_EVENT).await;
    let reply: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["tokens"]["day"]["limit"], 1_234, "{reply}");
    assert!(reply["tokens"].get("month").is_none(), "{reply}");

    registry
        .set_budget(&ClinicId::parse("clinic-a").unwrap(), None)
        .await
        .unwrap();
    let (_, _, body) = call(deps, USAGE_EVENT).await;
    let reply: Value = serde_json::from_slice(&body).unwrap();
    let tier = TierCatalog::embedded().unwrap();
    let basic = tier
        .config(&tier.tier("basic").unwrap())
        .unwrap()
        .token_budget;
    assert_eq!(
        reply["tokens"]["day"]["limit"], basic.daily_tokens,
        "{reply}"
    );
}
