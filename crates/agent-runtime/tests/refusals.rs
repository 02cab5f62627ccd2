//! Every identity problem is refused before the model or the Gateway is called.

mod common;

use common::{FakeTarget, caller, ctx, invoke, standard};
use serde_json::json;
use testkit::test_issuer;

const SESSION_HEADER: &str = contracts::headers::RUNTIME_SESSION_ID;

async fn refused(
    stack: &common::Stack,
    model: &emulators::model::ModelStandin,
    token: Option<&str>,
    session: Option<&str>,
    body: serde_json::Value,
) -> (u16, String) {
    let before = model.requests().len();
    let reply = invoke(stack, token, session, body, false).await;
    assert_eq!(
        model.requests().len(),
        before,
        "the model was called: {}",
        reply.body
    );
    let code = reply.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (reply.status, code)
}

/// One invocation with exactly `headers` (a name may repeat) besides `Accept: application/json`.
async fn send_raw(
    stack: &common::Stack,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{}/invocations", stack.agent_url))
        .header("Accept", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.json(body).send().await.unwrap()
}

#[tokio::test]
async fn tokens_that_do_not_verify_get_401() {
    let target = FakeTarget::with_hour(10);
    let (stack, model, _gw) = standard("basic", &target).await;
    let (_, session) = caller(&stack, "basic", "clinic-a");
    let prompt = json!({"prompt": "Show patient p-001"});

    let mut expired = test_issuer::id_claims();
    expired["exp"] = (test_issuer::now() - 3600).into();
    let mut other_pool = test_issuer::id_claims();
    other_pool["iss"] = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other".into();
    let forged_clinic = {
        let mut c = test_issuer::id_claims();
        c["custom:clinic_id"] = "clinic-b".into();
        test_issuer::with_payload(&test_issuer::id_token("basic", "clinic-a"), &c)
    };
    let cases = [
        ("no token", None, "no_token"),
        ("not a JWT", Some("abc".to_owned()), "token_malformed"),
        (
            "another signer",
            Some(test_issuer::sign_with(
                test_issuer::OTHER_KEY,
                test_issuer::KID,
                &test_issuer::id_claims(),
            )),
            "token_bad_signature",
        ),
        (
            "expired",
            Some(test_issuer::sign(&expired)),
            "token_expired",
        ),
        (
            "another pool",
            Some(test_issuer::sign(&other_pool)),
            "token_wrong_issuer",
        ),
        ("edited claims", Some(forged_clinic), "token_bad_signature"),
    ];
    for (what, token, want) in cases {
        let (status, code) = refused(
            &stack,
            &model,
            token.as_deref(),
            Some(session.as_str()),
            prompt.clone(),
        )
        .await;
        assert_eq!((status, code.as_str()), (401, want), "{what}");
    }
}

/// The Runtime is on IAM inbound auth: the token comes only in its allow-listed custom header.
/// A Bearer token in `Authorization` (what a JWT-authorized runtime would pass on) is not read,
/// and two ID-token headers are refused like two `Authorization` headers.
#[tokio::test]
async fn the_token_is_read_from_the_runtime_header_only_and_once() {
    let target = FakeTarget::with_hour(10);
    let (stack, model, _gw) = standard("basic", &target).await;
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let prompt = json!({"prompt": "What are our opening hours?"});
    let send = |headers: Vec<(&'static str, String)>| {
        let stack = &stack;
        let prompt = &prompt;
        let session = session.clone();
        async move {
            let mut all: Vec<(&str, &str)> = vec![(SESSION_HEADER, session.as_str())];
            all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
            let reply = send_raw(stack, &all, prompt).await;
            let status = reply.status().as_u16();
            let body: serde_json::Value = reply.json().await.unwrap_or_default();
            (
                status,
                body["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    let before = model.requests().len();
    let bearer = send(vec![("Authorization", format!("Bearer {token}"))]).await;
    assert_eq!(bearer, (401, "no_token".to_owned()));
    let twice = send(vec![
        (contracts::headers::RUNTIME_ID_TOKEN, token.clone()),
        (contracts::headers::RUNTIME_ID_TOKEN, token.clone()),
    ])
    .await;
    assert_eq!(twice, (401, "no_token".to_owned()));
    assert_eq!(model.requests().len(), before, "the model was called");
    // The control: the same token in the one header is served.
    let once = send(vec![(contracts::headers::RUNTIME_ID_TOKEN, token.clone())]).await;
    assert_eq!(once.0, 200, "{once:?}");
}

#[tokio::test]
async fn another_tiers_token_gets_403() {
    let target = FakeTarget::with_hour(10);
    let (stack, model, _gw) = standard("basic", &target).await;
    let token = test_issuer::id_token("premium", "hospital-x");
    let session = stack
        .sessions
        .issue(&ctx("premium", "hospital-x", test_issuer::USER_SUB))
        .unwrap();
    let (status, code) = refused(
        &stack,
        &model,
        Some(&token),
        Some(session.as_str()),
        json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "wrong_tier"));
}

#[tokio::test]
async fn a_session_id_of_another_user_or_not_issued_gets_403() {
    let target = FakeTarget::with_hour(10);
    let (stack, model, _gw) = standard("basic", &target).await;
    let (token, _) = caller(&stack, "basic", "clinic-a");
    let prompt = json!({"prompt": "What did I ask before?"});
    let others = [
        stack
            .sessions
            .issue(&ctx("basic", "clinic-a", "another-user-sub"))
            .unwrap(),
        stack
            .sessions
            .issue(&ctx("basic", "clinic-b", test_issuer::USER_SUB))
            .unwrap(),
        tenant_context::SessionBinder::new(&[9; 32])
            .unwrap()
            .issue(&ctx("basic", "clinic-a", test_issuer::USER_SUB))
            .unwrap(),
    ];
    for session in &others {
        let (status, code) = refused(
            &stack,
            &model,
            Some(&token),
            Some(session.as_str()),
            prompt.clone(),
        )
        .await;
        assert_eq!((status, code.as_str()), (403, "session_not_owned"));
    }
    let chosen = "a-session-id-the-caller-chose-itself-0001";
    let (status, code) = refused(&stack, &model, Some(&token), Some(chosen), prompt.clone()).await;
    assert_eq!((status, code.as_str()), (403, "session_not_owned"));
    let (status, code) = refused(&stack, &model, Some(&token), None, prompt.clone()).await;
    assert_eq!((status, code.as_str()), (400, "bad_session_id"));

    // The user's own id, issued longer ago than a session lives: expired.
    let me = ctx("basic", "clinic-a", test_issuer::USER_SUB);
    let now = test_issuer::now();
    let old = stack.sessions.issue_at(
        &me,
        now - tenant_context::SESSION_MAX_AGE.as_secs() - 1,
        [1; 12],
    );
    let (status, code) = refused(
        &stack,
        &model,
        Some(&token),
        Some(old.as_str()),
        prompt.clone(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "session_expired"));

    // Two session id headers, even both valid and equal: which one routed is unknown.
    let mine = stack.sessions.issue(&me).unwrap();
    let before = model.requests().len();
    let reply = send_raw(
        &stack,
        &[
            (contracts::headers::RUNTIME_ID_TOKEN, &token),
            (SESSION_HEADER, mine.as_str()),
            (SESSION_HEADER, mine.as_str()),
        ],
        &prompt,
    )
    .await;
    assert_eq!(reply.status(), 400);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_session_id", "{body}");
    assert_eq!(model.requests().len(), before, "the model was called");
}

#[tokio::test]
async fn a_body_that_names_a_tenant_is_refused() {
    let target = FakeTarget::with_hour(10);
    let (stack, model, _gw) = standard("basic", &target).await;
    let (token, session) = caller(&stack, "basic", "clinic-a");
    for body in [
        json!({"prompt": "hi", "clinic_id": "clinic-b"}),
        json!({"prompt": "hi", "tier": "premium"}),
        json!({"prompt": "hi", "user_id": "someone"}),
        json!({"prompt": "hi", "role": "admin"}),
        json!({"prompt": 42}),
    ] {
        let (status, code) = refused(
            &stack,
            &model,
            Some(&token),
            Some(session.as_str()),
            body.clone(),
        )
        .await;
        assert_eq!((status, code.as_str()), (400, "bad_body"), "{body}");
    }
    let big = "x".repeat(17 * 1024);
    let (status, code) = refused(
        &stack,
        &model,
        Some(&token),
        Some(session.as_str()),
        json!({"prompt": big}),
    )
    .await;
    assert_eq!((status, code.as_str()), (413, "prompt_too_large"));
}

#[tokio::test]
async fn ping_answers_at_once() {
    let target = FakeTarget::with_hour(10);
    let (stack, _model, _gw) = standard("basic", &target).await;
    let ping: serde_json::Value = reqwest::get(format!("{}/ping", stack.agent_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ping["status"], "Healthy");
    assert!(ping["time_of_last_update"].as_u64().unwrap() > 1_700_000_000);
}

/// The per-user turn limit (a second line behind the usage plans), counted in the usage table
/// so every microVM shares it: the user's turns past the limit in one minute are refused with
/// 429 `user_rate_limited` and a `Retry-After` before the model is called; a colleague of the
/// same clinic is not affected.
#[tokio::test]
async fn a_user_past_their_turns_per_minute_is_refused_and_a_colleague_is_not() {
    let endpoints = testkit::endpoints_or_panic();
    let table = testkit::dynamo::create_usage_table(&endpoints, "turn-limit")
        .await
        .expect("the usage table on dynalite (scripts/standins.sh start)");
    let target = FakeTarget::with_hour(10);
    let (stack, model, _gw) = common::standard_with(
        "basic",
        &target,
        &[
            ("TENANTRY_USAGE_TABLE", table.as_str()),
            ("TENANTRY_USER_TURNS_PER_MINUTE", "2"),
        ],
    )
    .await;
    common::clear_of_a_minutes_end().await;
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let prompt = json!({"prompt": "What are our opening hours?"});
    for _ in 0..2 {
        let ok = invoke(
            &stack,
            Some(&token),
            Some(session.as_str()),
            prompt.clone(),
            false,
        )
        .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
    }
    let before = model.requests().len();
    let third = send_raw(
        &stack,
        &[
            (contracts::headers::RUNTIME_ID_TOKEN, &token),
            (SESSION_HEADER, session.as_str()),
        ],
        &prompt,
    )
    .await;
    assert_eq!(third.status(), 429);
    let retry_after: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["error"]["code"], "user_rate_limited", "{body}");
    assert_eq!(model.requests().len(), before, "the model was called");

    // A colleague (another sub, same clinic) has a minute of their own.
    let mut claims = test_issuer::id_claims();
    claims["sub"] = "0b7c2f7e-1111-4c1a-9a57-0d8b7b0f7a22".into();
    let colleague_token = test_issuer::sign(&claims);
    let colleague = stack
        .sessions
        .issue(&ctx(
            "basic",
            "clinic-a",
            "0b7c2f7e-1111-4c1a-9a57-0d8b7b0f7a22",
        ))
        .unwrap();
    let ok = invoke(
        &stack,
        Some(&colleague_token),
        Some(colleague.as_str()),
        prompt,
        false,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

/// A suspension ends invocations at the agent too, not only at the front door: a clinic the
/// registry does not list as active on this tier is refused (403 `tenant_not_served`) before
/// the model is called, and an unreadable registry refuses every turn (503, fail closed).
#[tokio::test]
async fn a_suspended_clinic_is_refused_by_the_agent_and_an_unreadable_registry_refuses_all() {
    let endpoints = testkit::endpoints_or_panic();
    let table = testkit::dynamo::create_demo_registry(&endpoints, "agent-registry")
        .await
        .expect("the demo registry on dynalite (scripts/standins.sh start)");
    tenant_registry::TenantRegistry::new(testkit::dynamo::client(&endpoints).unwrap(), &table)
        .set_status(
            &tenant_context::ClinicId::parse("clinic-b").unwrap(),
            tenant_registry::TenantStatus::Suspended,
        )
        .await
        .unwrap();
    let target = FakeTarget::with_hour(10);
    let (stack, model, _gw) = common::standard_with(
        "basic",
        &target,
        &[("TENANTRY_REGISTRY_TABLE", table.as_str())],
    )
    .await;
    let prompt = json!({"prompt": "What are our opening hours?"});
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let ok = invoke(
        &stack,
        Some(&token),
        Some(session.as_str()),
        prompt.clone(),
        false,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let (token, session) = caller(&stack, "basic", "clinic-b");
    let (status, code) = refused(
        &stack,
        &model,
        Some(&token),
        Some(session.as_str()),
        prompt.clone(),
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "tenant_not_served"));

    let target = FakeTarget::with_hour(10);
    let (stack, model, _gw) = common::standard_with(
        "basic",
        &target,
        &[("TENANTRY_REGISTRY_TABLE", "no-such-registry-table")],
    )
    .await;
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let (status, code) =
        refused(&stack, &model, Some(&token), Some(session.as_str()), prompt).await;
    assert_eq!((status, code.as_str()), (503, "registry_unavailable"));
}

/// A clinic whose own token budget (set by the provider in the registry) cannot take the turn's
/// first model call is refused before the model is called: 429 `budget_exhausted` with the time
/// the budget starts again (body and `Retry-After`), distinct from the per-user limit. A clinic
/// of the same tier, on the tier's budget, is served.
#[tokio::test]
async fn a_clinic_over_its_token_budget_is_refused_before_the_model_and_a_tier_mate_is_not() {
    let endpoints = testkit::endpoints_or_panic();
    let usage = testkit::dynamo::create_usage_table(&endpoints, "budget")
        .await
        .expect("the usage table on dynalite (scripts/standins.sh start)");
    let registry = testkit::dynamo::create_demo_registry(&endpoints, "budget-registry")
        .await
        .unwrap();
    let alerts = testkit::sns::create_topic(&endpoints, "budget")
        .await
        .unwrap();
    let prompt = "What are our opening hours?";
    let max_output: u32 = 1_024;
    // Room for one turn, not for the first call of a second.
    let first = agent_runtime::budget::first_call_estimate(prompt, max_output);
    tenant_registry::TenantRegistry::new(testkit::dynamo::client(&endpoints).unwrap(), &registry)
        .set_budget(
            &tenant_context::ClinicId::parse("clinic-a").unwrap(),
            Some(tenant_context::TokenBudget {
                daily_tokens: first + 10,
                monthly_tokens: None,
            }),
        )
        .await
        .unwrap();
    let target = FakeTarget::with_hour(10);
    let (stack, model, _gw) = common::standard_with(
        "basic",
        &target,
        &[
            ("TENANTRY_USAGE_TABLE", usage.as_str()),
            ("TENANTRY_REGISTRY_TABLE", registry.as_str()),
            ("TENANTRY_MAX_OUTPUT_TOKENS", "1024"),
            ("TENANTRY_BUDGET_ALERT_TOPIC_ARN", alerts.as_str()),
        ],
    )
    .await;
    let ask = |clinic: &'static str| {
        let stack = &stack;
        async move {
            let (token, session) = caller(stack, "basic", clinic);
            invoke(
                stack,
                Some(&token),
                Some(session.as_str()),
                json!({ "prompt": prompt }),
                false,
            )
            .await
        }
    };
    let ok = ask("clinic-a").await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let before = model.requests().len();
    let (token, session) = caller(&stack, "basic", "clinic-a");
    let refused = send_raw(
        &stack,
        &[
            (contracts::headers::RUNTIME_ID_TOKEN, &token),
            (SESSION_HEADER, session.as_str()),
        ],
        &json!({ "prompt": prompt }),
    )
    .await;
    assert_eq!(refused.status(), 429);
    let retry_after: i64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exhausted", "{body}");
    let resets_at =
        chrono::DateTime::parse_from_rfc3339(body["error"]["resets_at"].as_str().unwrap()).unwrap();
    // The day's budget: it starts again at the next UTC midnight.
    let midnight = usage_meter::day_end(usage_meter::utc_today());
    assert_eq!(resets_at, midnight, "{body}");
    let until = (midnight - chrono::Utc::now()).num_seconds();
    assert!(
        (until - 5..=until + 5).contains(&retry_after),
        "{retry_after}"
    );
    assert_eq!(model.requests().len(), before, "the model was called");

    // clinic-b, same tier, on the tier's budget.
    let mate = ask("clinic-b").await;
    assert_eq!(mate.status, 200, "{}", mate.body);

    // Refused again: no second alert. Published: 80% (the first turn's reservation) and 100%
    // (the refusal) of clinic-a's day, once each, and nothing of clinic-b.
    let again = ask("clinic-a").await;
    assert_eq!(again.status, 429, "{}", again.body);
    let published = testkit::sns::published(&endpoints, &alerts).await.unwrap();
    let seen: Vec<(String, u64, String)> = published
        .iter()
        .map(|(_, m)| {
            let m: serde_json::Value = serde_json::from_str(m).unwrap();
            assert_eq!(m["event"], "tenantry_budget_alert", "{m}");
            (
                m["clinic_id"].as_str().unwrap().to_owned(),
                m["percent"].as_u64().unwrap(),
                m["period"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("clinic-a".to_owned(), 80, "day".to_owned()),
            ("clinic-a".to_owned(), 100, "day".to_owned())
        ],
        "{published:?}"
    );
    assert!(
        published[1].0.contains("clinic-a reached 100%"),
        "{published:?}"
    );
}
