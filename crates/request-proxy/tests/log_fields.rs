//! The log lines that docs/observability.md's CloudWatch Logs Insights queries read, as the REAL
//! `request-proxy` binary writes them to stdout (what Lambda ships to CloudWatch Logs): the binary
//! runs its own `lambda_http` loop, configured only through its environment, against a local
//! Runtime API (a mock on 127.0.0.1) and a local stand-in for the AgentCore Runtime endpoint.
//!
//! It fails when a field the queries use is renamed, moved or dropped, and when a query in the
//! doc names a field (or a string value) that no function emits. No AWS and no stand-ins needed.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenant_context::{TenantContext, TierCatalog, USAGE_EVENT_NAME, UsageEvent};
use wiremock::matchers::{body_string_contains, method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The document whose queries this test keeps honest.
const DOC: &str = include_str!("../../../docs/observability.md");
/// The deployed template: its API Gateway access-log format names the access log's keys.
const TEMPLATE: &str = include_str!("../../../infra/template.json");
/// Sources of the other functions whose lines the doc's queries read.
const TOOL_TARGET_SRC: &str = include_str!("../../tool-target/src/handler.rs");
const AUTHORIZER_SRC: &str = include_str!("../../tenant-authorizer/src/handler.rs");

/// Fields (under `fields.`) that the doc reads from the authorizer's and the tool target's
/// lines; each must appear as a tracing field in that function's source.
const OTHER_FUNCTION_FIELDS: &[(&str, &str, &[&str])] = &[
    (
        "tool-target",
        TOOL_TARGET_SRC,
        &[
            "message",
            "tier",
            "clinic_id",
            "tool",
            "code",
            "security_event",
            "token_tier",
            "token_clinic_id",
            "target_tier",
            "user_id",
            "target",
        ],
    ),
    (
        "tenant-authorizer",
        AUTHORIZER_SRC,
        &[
            "message",
            "tier",
            "clinic_id",
            "user_id",
            "code",
            "security_event",
            "reason",
        ],
    ),
];

const USER: &str = "6f1c1a52-4d3e-4c1a-9a57-0d8b7b0f7a11";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3Qta2V5LTEifQ.eyJzdWIiOiI2ZjFjMWE1Mi00ZDNlLTRjMWEtOWE1Ny0wZDhiN2IwZjdhMTEiLCJ0b2tlbl91c2UiOiJpZCIsImN1c3RvbTp0aWVyIjoiYmFzaWMiLCJjdXN0b206Y2xpbmljX2lkIjoiY2xpbmljLWEiLCJjdXN0b206cm9sZSI6ImNsaW5pY2lhbiIsImV4cCI6NDEwMjQ0NDgwMH0.bm90LXNpZ25lZA";
const FAIL_PROMPT: &str = "please fail upstream";

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../events/request-proxy/", $name))
    };
}

/// One invocation as the Lambda Runtime API delivers it (with an X-Ray trace id, which the
/// function's log span carries).
fn invocation(request_id: &str, api_gateway_event: &str) -> ResponseTemplate {
    testkit::runtime_api::invocation(
        request_id,
        "arn:aws:lambda:us-east-1:123456789012:function:tenantry-request-proxy",
    )
    .insert_header(
        "Lambda-Runtime-Trace-Id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
    )
    .set_body_raw(api_gateway_event.to_owned(), "application/json")
}

/// The AgentCore Runtime endpoint: answers, except for the prompt that asks it to fail.
async fn agent_runtime() -> MockServer {
    let server = MockServer::builder().start().await;
    let invocations = || path_regex(r"^/runtimes/[^/]+/invocations$");
    Mock::given(method("POST"))
        .and(invocations())
        .and(body_string_contains(FAIL_PROMPT))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(invocations())
        .respond_with(ResponseTemplate::new(200).set_body_raw("{}", "application/json"))
        .mount(&server)
        .await;
    server
}

/// Runs the binary at `rust_log` through three invocations (answered; no tenant in the
/// authorizer context; the runtime failing); returns what it wrote to stdout.
async fn run_binary(rust_log: &str) -> String {
    let mut failing: Value = serde_json::from_str(fixture!("invoke-clinic-a.json")).unwrap();
    failing["body"] = json!({ "prompt": FAIL_PROMPT }).to_string().into();
    let api = testkit::runtime_api::serve(vec![
        invocation("req-allowed", fixture!("invoke-clinic-a.json")),
        invocation("req-no-tenant", fixture!("invoke-no-authorizer.json")),
        invocation("req-runtime-failed", &failing.to_string()),
    ])
    .await;
    let agent = agent_runtime().await;
    let catalog = TierCatalog::embedded().expect("tier file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_request-proxy"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address().to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "tenantry-request-proxy")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        // Lambda puts the execution role's credentials in the environment; the proxy signs
        // InvokeAgentRuntime with them.
        .envs(emulators::iam::LocalPrincipal::request_proxy().env())
        .env("TENANTRY_RUNTIME_ENDPOINT", agent.uri())
        .env(
            "TENANTRY_SESSION_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        // "info": what the deployed functions run with.
        .env("RUST_LOG", rust_log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (tier, _) in catalog.iter() {
        cmd.env(
            format!(
                "TENANTRY_RUNTIME_ARN_{}",
                tier.as_str().to_ascii_uppercase()
            ),
            format!(
                "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/tenantry_{}-AAAAAAAAAA",
                tier.as_str().replace('-', "_")
            ),
        );
    }
    let mut child = cmd.spawn().expect("start the request-proxy binary");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    // The binary exits once the Runtime API answers 410 after the last invocation.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the binary did not finish the invocations within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replies = testkit::runtime_api::replies(&api).await.len();
    assert_eq!(replies, 3, "every invocation was answered");
    reader.join().expect("stdout reader")
}

/// Dotted paths of every leaf, as Logs Insights names the fields it discovers in a JSON event
/// (`fields.clinic_id`, `span.requestId`). Arrays (`spans`) are left out: no query uses them.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, child, out);
            }
        }
        Value::Array(_) => {}
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// The string values of every leaf (for checking the doc's string literals).
fn string_values(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => map.values().for_each(|c| string_values(c, out)),
        Value::Array(items) => items.iter().for_each(|c| string_values(c, out)),
        Value::String(s) => {
            out.insert(s.clone());
        }
        _ => {}
    }
}

/// The fenced ```logs-insights blocks of the doc.
fn query_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed == "```logs-insights" => current = Some(String::new()),
            Some(block) if trimmed == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            // `#` starts a comment line in Logs Insights: skipped.
            Some(block) if !trimmed.starts_with('#') => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "unterminated query block in the doc");
    blocks
}

/// `"..."` string literals of a query, and the query with them (and /regex/ literals) blanked.
fn split_literals(query: &str) -> (Vec<String>, String) {
    let mut literals = Vec::new();
    let mut rest = String::new();
    let mut chars = query.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '/' => {
                let mut lit = String::new();
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                    lit.push(d);
                }
                if c == '"' {
                    literals.push(lit);
                }
                rest.push(' ');
            }
            _ => rest.push(c),
        }
    }
    (literals, rest)
}

/// Every `fields.x` / `span.x` the text names.
fn dotted_names(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for prefix in ["fields.", "span."] {
        let mut from = 0;
        while let Some(at) = text[from..].find(prefix) {
            let start = from + at;
            let before = text[..start].chars().next_back();
            let name: String = text[start + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `fields.` must start a name, not end one (e.g. not `xfields.`).
            if !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == '_') && !name.is_empty() {
                found.insert(format!("{prefix}{name}"));
            }
            from = start + prefix.len();
        }
    }
    found
}

/// The plain field names listed by the query's first `fields` command (before any `as`).
fn first_fields_command(query: &str) -> Vec<String> {
    let Some(first) = query.split('|').next() else {
        return Vec::new();
    };
    let Some(list) = first.trim().strip_prefix("fields ") else {
        return Vec::new();
    };
    list.split(',')
        .map(|item| {
            item.split(" as ")
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('`')
                .to_owned()
        })
        .filter(|item| {
            !item.is_empty()
                && !item.starts_with('@')
                && item
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        })
        .collect()
}

fn usage_event_keys() -> BTreeSet<String> {
    let catalog = TierCatalog::embedded().unwrap();
    let claims: std::collections::HashMap<String, String> = [
        ("sub", USER),
        ("custom:tier", "basic"),
        ("custom:clinic_id", "clinic-a"),
        ("custom:role", "clinician"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let ctx = TenantContext::from_claims(&claims, &catalog).unwrap();
    let tier = catalog.config(ctx.tier()).unwrap();
    let line = UsageEvent::new(&ctx, tier, 1000, 200).to_log_line();
    let v: Value = serde_json::from_str(&line).unwrap();
    let mut keys = BTreeSet::new();
    flatten("", &v, &mut keys);
    keys
}

/// The keys of the API Gateway access log lines, from the stage's format in the template.
fn access_log_keys() -> BTreeSet<String> {
    let template: Value = serde_json::from_str(TEMPLATE).expect("infra/template.json");
    let format = template["Resources"]["ApiStage"]["Properties"]["AccessLogSetting"]["Format"]
        .as_str()
        .expect("the stage's access log format");
    let line: Value = serde_json::from_str(format).expect("the access log format is a JSON line");
    line.as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_proxy_log_lines_carry_the_fields_the_observability_queries_use() {
    let stdout = run_binary("info").await;

    // Every line the function writes is one JSON object (Logs Insights discovers its fields).
    let lines: Vec<Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.is_object(), "not a JSON object: {l}");
            v
        })
        .collect();
    assert!(!stdout.contains(TOKEN), "no token in the logs");
    assert!(
        !stdout.contains("opening hours") && !stdout.contains(FAIL_PROMPT),
        "no prompt text in the logs"
    );
    let of_request = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["span"]["requestId"] == id)
            .collect()
    };
    let message = |l: &Value| l["fields"]["message"].as_str().unwrap_or("").to_owned();

    // The tenant line: the per-clinic request count (query 1) and the drill-down (query 3b).
    let allowed = of_request("req-allowed");
    let tenant: Vec<&&Value> = allowed
        .iter()
        .filter(|l| message(l).starts_with("Tier: "))
        .collect();
    assert_eq!(tenant.len(), 1, "one tenant line per request: {stdout}");
    let t = tenant[0];
    assert_eq!(
        t["fields"]["message"],
        format!("Tier: basic, Clinic ID: clinic-a, User ID: {USER}, Role: clinician")
    );
    assert_eq!(t["fields"]["tier"], "basic");
    assert_eq!(t["fields"]["clinic_id"], "clinic-a");
    assert_eq!(t["fields"]["user_id"], USER);
    assert_eq!(t["fields"]["role"], "clinician");
    // A short hash of the session id, never the id itself.
    assert!(
        t["fields"]["session"]
            .as_str()
            .is_some_and(|s| s.len() == 12)
    );
    assert!(t["fields"].get("session_id").is_none());
    assert_eq!(t["level"], "INFO");
    assert_eq!(t["target"], "request_proxy::app");
    assert!(t["timestamp"].is_string());
    assert_eq!(t["span"]["name"], "Lambda runtime invoke");
    assert!(
        !allowed.iter().any(|l| message(l) == "request refused"),
        "an answered request has no refusal line"
    );

    // A refusal before the tenant is known: code and status, no tenant fields.
    let refused = of_request("req-no-tenant");
    assert_eq!(refused.len(), 1, "{stdout}");
    assert_eq!(refused[0]["fields"]["message"], "request refused");
    assert_eq!(refused[0]["fields"]["code"], "no_tenant");
    assert_eq!(refused[0]["fields"]["status"], 403);
    assert!(refused[0]["fields"].get("clinic_id").is_none());

    // A failure after the tenant line: the refusal shares the Lambda request id with it.
    let failed = of_request("req-runtime-failed");
    let messages: Vec<String> = failed.iter().map(|l| message(l)).collect();
    assert!(
        messages[0].starts_with("Tier: basic, Clinic ID: clinic-a"),
        "{messages:?}"
    );
    assert!(messages.contains(&"agent runtime answered with an error".to_owned()));
    let last = failed.last().unwrap();
    assert_eq!(last["fields"]["message"], "request refused");
    assert_eq!(last["fields"]["code"], "runtime_failed");
    assert_eq!(last["fields"]["status"], 502);
    // Refused after the tenant was known: the refusal names it (query 3 groups by clinic).
    assert_eq!(last["fields"]["clinic_id"], "clinic-a");
    assert_eq!(last["fields"]["tier"], "basic");

    the_docs_queries_name_only_what_is_logged(&lines);
}

/// The fields and values docs/observability.md's queries name are ones the functions write.
fn the_docs_queries_name_only_what_is_logged(lines: &[Value]) {
    let mut known = BTreeSet::new();
    let mut values = BTreeSet::new();
    for l in lines {
        flatten("", l, &mut known);
        string_values(l, &mut values);
    }
    for (function, src, names) in OTHER_FUNCTION_FIELDS {
        for name in *names {
            let emitted = *name == "message"
                || [format!("{name} ="), format!("{name},"), format!("{name})")]
                    .iter()
                    .any(|p| src.contains(p.as_str()));
            assert!(emitted, "{function} no longer logs the field `{name}`");
            known.insert(format!("fields.{name}"));
        }
    }
    let usage_keys = usage_event_keys();
    for key in access_log_keys() {
        known.insert(key);
    }

    let blocks = query_blocks(DOC);
    assert!(
        blocks.len() >= 8,
        "expected the doc's ```logs-insights query blocks, found {}",
        blocks.len()
    );
    for block in &blocks {
        let (literals, code) = split_literals(block);
        for name in dotted_names(&code) {
            assert!(
                known.contains(&name),
                "the doc's query names `{name}`, which no function logs:\n{block}"
            );
        }
        let is_usage = literals.iter().any(|l| l == USAGE_EVENT_NAME);
        for name in first_fields_command(&code) {
            let ok = if is_usage {
                usage_keys.contains(&name)
            } else {
                known.contains(&name)
            };
            assert!(
                ok,
                "the doc's query reads `{name}`, which is not in the log line:\n{block}"
            );
        }
        for lit in literals.iter().filter(|l| !l.is_empty()) {
            let quoted = format!("\"{lit}\"");
            let emitted = values.contains(lit)
                || lit == USAGE_EVENT_NAME
                || TOOL_TARGET_SRC.contains(&quoted)
                || AUTHORIZER_SRC.contains(&quoted);
            assert!(
                emitted,
                "the doc's query matches the value {quoted}, which no function logs:\n{block}"
            );
        }
    }
}

/// As an operator debugging would run it, RUST_LOG=trace: lambda_runtime would print each raw
/// event (the token, the prompt), aws_sigv4 the signed request; the wire cap keeps them out.
#[tokio::test]
async fn at_trace_the_proxy_logs_no_token_prompt_or_signature() {
    let stdout = run_binary("trace").await;
    assert!(
        stdout.contains("req-allowed"),
        "the log was written: {stdout}"
    );
    for secret in [
        TOKEN,
        "opening hours",
        FAIL_PROMPT,
        "AWS4-HMAC-SHA256",
        "Signature=",
    ] {
        assert!(
            !stdout.contains(secret),
            "`{secret}` in the proxy's trace log"
        );
    }
}
