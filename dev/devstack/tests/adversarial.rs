//! The whole-stack adversarial family (`events/adversarial/whole-stack.json`): prompt
//! injection against a model stand-in that obeys, memory and session theft, rate-limit evasion,
//! direct calls to the Runtime and Gateway emulations (unsigned, or signed by the wrong role), another clinic's usage, oversized and
//! tokenless requests. One line per case, then `N passed, M failed`; any unexpected outcome
//! fails the test.

mod support;

use std::time::Duration;

use devstack::DevStack;
use devstack::client::{Answer, ask};
use serde_json::{Value, json};
use testkit::adversarial::{Report, cases, expand_repeats};

const FAMILY: &str = include_str!("../../../events/adversarial/whole-stack.json");
/// 10:00 in New York: clinic-a's patient records are within business hours.
const DAYTIME: &str = "2026-12-01T15:00:00Z";

async fn token(stack: &DevStack, who: &str) -> Option<String> {
    match who {
        "none" => None,
        "colleague" => Some(
            stack
                .sign_in_as(devstack::setup::COLLEAGUE.1)
                .await
                .expect("the colleague signs in"),
        ),
        clinic => Some(stack.sign_in(clinic).await.expect("the user signs in")),
    }
}

/// `$API_KEY{clinic}` and `$RUNTIME{tier}` filled in, `$REPEAT` expanded.
fn fill(stack: &DevStack, text: &str) -> String {
    let mut out = expand_repeats(text);
    for (clinic, key) in &stack.onboarded.keys {
        out = out.replace(&format!("$API_KEY{{{clinic}}}"), key);
    }
    for tier in ["basic", "premium"] {
        out = out.replace(
            &format!("$RUNTIME{{{tier}}}"),
            &devstack::setup::runtime_arn(tier),
        );
    }
    out
}

/// One request at the API; a missing token is sent as no `Authorization` at all.
async fn at_api(
    stack: &DevStack,
    http: &reqwest::Client,
    token: Option<&str>,
    prompt: &str,
    session: Option<&str>,
    headers: &[(String, String)],
) -> (u16, String) {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    match token {
        Some(t) => {
            let a: Answer = ask(http, &stack.api.invoke_url(), t, prompt, session, &headers)
                .await
                .expect("the API answers");
            (a.status, a.body.to_string())
        }
        None => {
            let r = http
                .post(stack.api.invoke_url())
                .json(&json!({"prompt": prompt}))
                .send()
                .await
                .expect("the API answers");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    }
}

/// The local principal a case names (`signer`), if any.
fn signer(case: &Value) -> Option<emulators::iam::LocalPrincipal> {
    use emulators::iam::LocalPrincipal;
    Some(match case["signer"].as_str()? {
        "request-proxy" => LocalPrincipal::request_proxy(),
        "other" => LocalPrincipal::other(),
        tier_runtime => LocalPrincipal::runtime(
            tier_runtime
                .strip_suffix("-runtime")
                .expect("signer: request-proxy, other or <tier>-runtime"),
        ),
    })
}

/// A POST of `body` to an emulated AgentCore door with `headers`, as its caller holds it:
/// signed by `signer` with the token in `token_header`, or (no signer) unsigned with the token
/// as a Bearer, all a user holds. The HTTP status and body.
async fn post_as(
    http: &reqwest::Client,
    url: String,
    signer: Option<&emulators::iam::LocalPrincipal>,
    (token_header, token): (&'static str, Option<&str>),
    mut headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> (u16, String) {
    let headers = match (signer, token) {
        (Some(p), token) => {
            if let Some(t) = token {
                headers.push((token_header, t.to_owned()));
            }
            p.sign("POST", &url, &headers, &body)
        }
        (None, token) => {
            if let Some(t) = token {
                headers.push(("authorization", format!("Bearer {t}")));
            }
            headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect()
        }
    };
    let mut req = http.post(url).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.send().await.expect("the emulation answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// InvokeAgentRuntime at the Runtime emulation (see [`post_as`] for who holds what).
async fn at_runtime(
    stack: &DevStack,
    http: &reqwest::Client,
    signer: Option<&emulators::iam::LocalPrincipal>,
    token: Option<&str>,
    tier: &str,
    prompt: &str,
    session: Option<&str>,
) -> (u16, String) {
    let url = request_proxy::runtime::invocation_url(
        &stack.assistant.runtime.endpoint(),
        &devstack::setup::runtime_arn(tier),
    );
    let body = serde_json::to_vec(&json!({"prompt": prompt})).expect("JSON");
    let mut headers = vec![
        ("accept", "application/json".to_owned()),
        ("content-type", "application/json".to_owned()),
    ];
    if let Some(s) = session {
        headers.push((contracts::headers::RUNTIME_SESSION_ID, s.to_owned()));
    }
    let token = (contracts::headers::RUNTIME_ID_TOKEN, token);
    post_as(http, url, signer, token, headers, body).await
}

/// MCP initialize at a Gateway emulation (see [`post_as`]; the token goes in the tool target's
/// header).
async fn at_gateway(
    stack: &DevStack,
    http: &reqwest::Client,
    signer: Option<&emulators::iam::LocalPrincipal>,
    token: Option<&str>,
    tier: &str,
) -> (u16, String) {
    let url = stack.gateway_url(tier).expect("a Gateway per tier");
    let body = serde_json::to_vec(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "adversarial", "version": "0"}}}),
    )
    .expect("JSON");
    let headers = vec![
        ("accept", "application/json, text/event-stream".to_owned()),
        ("content-type", "application/json".to_owned()),
    ];
    let token = (contracts::headers::ID_TOKEN, token);
    post_as(http, url, signer, token, headers, body).await
}

/// `GET /usage` at the API with the given headers; without a token, no `Authorization` at all.
async fn at_usage(
    stack: &DevStack,
    http: &reqwest::Client,
    token: Option<&str>,
    headers: &[(String, String)],
) -> (u16, String) {
    let mut req = http.get(stack.api.usage_url());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.send().await.expect("the API answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// `GET /audit?<query>` at the API as `token`, with `headers`.
async fn at_audit(
    stack: &DevStack,
    http: &reqwest::Client,
    token: Option<&str>,
    query: &str,
    headers: &[(String, String)],
) -> (u16, String) {
    let url = match query {
        "" => stack.api.audit_url(),
        q => format!("{}?{q}", stack.api.audit_url()),
    };
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = req.send().await.expect("the API answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Books all of `clinic`'s day but `left` tokens in the usage table, as earlier turns would
/// have (the agents' own conditional write); returns the budget and a check that the day,
/// after the racing turns, passed the limit by at most one turn's first estimate.
async fn book_budget(
    stack: &DevStack,
    clinic: &str,
    left: u64,
) -> Result<impl AsyncFnOnce() -> Result<String, String>, String> {
    use usage_meter::budget::{Reserve, TokenBudgets};
    let catalog = tenant_context::TierCatalog::embedded().map_err(|e| e.to_string())?;
    let tier = stack
        .users
        .iter()
        .find(|u| u.clinic_id == clinic)
        .map(|u| u.tier.clone())
        .ok_or(format!("no demo user for {clinic}"))?;
    let tier = catalog.tier(&tier).map_err(|e| e.to_string())?;
    let budget = catalog
        .config(&tier)
        .map_err(|e| e.to_string())?
        .token_budget;
    let budgets = TokenBudgets::new(usage_meter::UsageMeter::new(
        testkit::dynamo::client(&stack.endpoints).map_err(|e| e.to_string())?,
        stack.usage_table.clone(),
    ));
    let id = tenant_context::ClinicId::parse(clinic).map_err(|e| e.to_string())?;
    let today = usage_meter::utc_today();
    let used = budgets
        .status(&id, budget, today)
        .await
        .map_err(|e| e.to_string())?
        .day
        .used;
    let book = budget
        .daily_tokens
        .saturating_sub(used)
        .saturating_sub(left);
    if !matches!(
        budgets.reserve(&id, budget, book, today).await,
        Ok(Reserve::Reserved { .. })
    ) {
        return Err(format!("{clinic}'s day could not be booked"));
    }
    Ok(async move || {
        // The racing turns' settlements come after their answers.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let day = budgets
            .status(&id, budget, today)
            .await
            .map_err(|e| e.to_string())?
            .day;
        let one_turn =
            agent_runtime::budget::first_call_estimate("What are our opening hours?", 1_024);
        if day.used > day.limit + one_turn {
            return Err(format!(
                "the racing turns took the day to {} of {} (more than one turn over)",
                day.used, day.limit
            ));
        }
        Ok(format!("day at {} of {}", day.used, day.limit))
    })
}

async fn run_case(
    stack: &DevStack,
    http: &reqwest::Client,
    case: &Value,
) -> Result<String, String> {
    let text = |k: &str| case[k].as_str().map(|s| fill(stack, s));
    let mut setup_session = None;
    for step in case["setup"].as_array().into_iter().flatten() {
        let t = token(stack, step["as"].as_str().unwrap_or("none")).await;
        let a = ask(
            http,
            &stack.api.invoke_url(),
            t.as_deref().unwrap_or_default(),
            step["prompt"].as_str().unwrap_or_default(),
            None,
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(format!("setup step got HTTP {}: {}", a.status, a.body));
        }
        setup_session = a.session;
    }
    let t = token(stack, case["as"].as_str().unwrap_or("none")).await;
    let prompt = text("prompt").unwrap_or_default();
    let session = match case["session"].as_str() {
        Some("$SETUP_SESSION") => setup_session.clone(),
        Some(s) => Some(s.to_owned()),
        None => None,
    };
    let headers: Vec<(String, String)> = case["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), fill(stack, v.as_str().unwrap_or_default())))
        .collect();
    let repeat = case["repeat"].as_u64().unwrap_or(1) as usize;
    let budget_check = match case["book_budget_except"].as_u64() {
        Some(left) => {
            Some(book_budget(stack, case["as"].as_str().unwrap_or_default(), left).await?)
        }
        None => None,
    };
    let mut outcomes = Vec::new();
    match case["entry"].as_str() {
        Some("api") => {
            let calls = (0..repeat).map(|_| {
                at_api(
                    stack,
                    http,
                    t.as_deref(),
                    &prompt,
                    session.as_deref(),
                    &headers,
                )
            });
            outcomes.extend(futures::future::join_all(calls).await);
        }
        Some("runtime") => outcomes.push(
            at_runtime(
                stack,
                http,
                signer(case).as_ref(),
                t.as_deref(),
                &text("runtime").unwrap_or_default(),
                &prompt,
                session.as_deref(),
            )
            .await,
        ),
        Some("gateway") => outcomes.push(
            at_gateway(
                stack,
                http,
                signer(case).as_ref(),
                t.as_deref(),
                &text("gateway").unwrap_or_default(),
            )
            .await,
        ),
        Some("usage") => outcomes.push(at_usage(stack, http, t.as_deref(), &headers).await),
        Some("audit") => outcomes.push(
            at_audit(
                stack,
                http,
                t.as_deref(),
                &text("query").unwrap_or_default(),
                &headers,
            )
            .await,
        ),
        other => return Err(format!("unknown entry point {other:?}")),
    }
    let statuses: Vec<u16> = outcomes.iter().map(|(s, _)| *s).collect();
    if let Some(want) = case["expect_status"].as_u64()
        && let Some((s, body)) = outcomes.iter().find(|(s, _)| u64::from(*s) != want)
    {
        return Err(format!("expected HTTP {want}, got {s}: {}", short(body)));
    }
    if let Some(want) = case["expect_some_status"].as_u64()
        && !statuses.iter().any(|s| u64::from(*s) == want)
    {
        return Err(format!(
            "expected at least one HTTP {want}, got {statuses:?}"
        ));
    }
    if let Some(want) = case["expect_some_body"].as_str()
        && !outcomes.iter().any(|(_, body)| body.contains(want))
    {
        return Err(format!("no reply carries {want:?}: {statuses:?}"));
    }
    for (_, body) in &outcomes {
        for secret in case["answer_excludes"].as_array().into_iter().flatten() {
            let secret = secret.as_str().unwrap_or_default();
            if body.contains(secret) {
                return Err(format!("the reply carries {secret:?}: {}", short(body)));
            }
        }
        for needed in case["answer_includes"].as_array().into_iter().flatten() {
            let needed = needed.as_str().unwrap_or_default();
            if !body.contains(needed) {
                return Err(format!("the reply lacks {needed:?}: {}", short(body)));
            }
        }
    }
    let budget = match budget_check {
        Some(check) => format!("; {}", check().await?),
        None => String::new(),
    };
    Ok(format!(
        "HTTP {statuses:?}{budget}, stopped by {}",
        case["layer"].as_str().unwrap_or("?")
    ))
}

fn short(body: &str) -> String {
    body.chars().take(300).collect()
}

#[tokio::test]
async fn every_whole_stack_attack_meets_its_refusal_and_nothing_leaks() {
    let stack = support::stack("adversarial").await;
    stack.set_clock(Some(DAYTIME)).expect("clock");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let cases = cases(FAMILY);
    let mut report = Report::default();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("(unnamed)");
        report.record(name, run_case(&stack, &http, case).await);
    }
    report.finish(&cases, 20, |c| c["layer"] == "control");
}
