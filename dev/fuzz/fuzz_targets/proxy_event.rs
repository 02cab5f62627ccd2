//! Any event API Gateway REST can deliver to request-proxy (through lambda_http, as in the
//! function): a typed JSON refusal, never a panic and never a success. The runtime endpoint
//! leads nowhere (a closed port), so nothing can answer a 2xx; an event the proxy would forward
//! gets its typed "runtime unavailable" error.
//!
//! Deliverable means: API Gateway routes by the `Host` header, so it is a valid host name;
//! it sets `X-Forwarded-Proto` itself; paths start with `/`. lambda_http 1.3 panics building
//! the URI of an event that breaks these (found by this target: `Url::parse(..).unwrap()` on
//! a `Host` such as `a[b`), which only a direct `lambda:InvokeFunction` caller could send.
#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use request_proxy::{Config, Deps, router};
use tenant_context::TierCatalog;
use tower::ServiceExt;

const SESSION_KEY: &str = "ZnV6ei1zZXNzaW9uLWtleS1mdXp6LXNlc3Npb24ta2V5LWZ1eno=";

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

static DEPS: LazyLock<Arc<Deps>> = LazyLock::new(|| {
    let catalog = TierCatalog::embedded().expect("tier file");
    let config = Config::from_lookup(
        |k| {
            Some(match k {
                "TENANTRY_RUNTIME_ARN_BASIC" => {
                    "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/basic-Fuzz0001"
                }
                "TENANTRY_RUNTIME_ARN_PREMIUM" => {
                    "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/premium-Fuzz0001"
                }
                "TENANTRY_RUNTIME_ENDPOINT" => "http://127.0.0.1:9",
                "TENANTRY_SESSION_KEY" => SESSION_KEY,
                _ => return None,
            })
            .map(str::to_owned)
        },
        &catalog,
    )
    .expect("config");
    Arc::new(Deps {
        sessions: tenant_context::SessionBinder::from_base64(SESSION_KEY).expect("key"),
        config,
        catalog,
        runtime: request_proxy::runtime::RuntimeClient::with_static_keys(
            reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("client"),
            "AKIAFUZZ",
            "fuzz-secret",
            "us-east-1",
        ),
        // No usage table: GET /usage answers `usage_not_configured`, nothing is counted.
        usage: None,
        audit: None,
        registry: None,
    })
});

/// Whether API Gateway could have produced this event (see the module documentation).
fn deliverable(event: &serde_json::Value) -> bool {
    let valid_host = |h: &str| {
        let (name, port) = h.rsplit_once(':').unwrap_or((h, "0"));
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && port.parse::<u16>().is_ok()
    };
    let header_values = |name: &str| -> Vec<String> {
        let mut values = Vec::new();
        for (key, multi) in [("headers", false), ("multiValueHeaders", true)] {
            let Some(map) = event.get(key).and_then(|h| h.as_object()) else {
                continue;
            };
            for (k, v) in map {
                if !k.eq_ignore_ascii_case(name) {
                    continue;
                }
                match (multi, v) {
                    (false, serde_json::Value::String(s)) => values.push(s.clone()),
                    (true, serde_json::Value::Array(items)) => values.extend(
                        items
                            .iter()
                            .map(|i| i.as_str().unwrap_or("\u{0}").to_owned()),
                    ),
                    _ => values.push("\u{0}".to_owned()),
                }
            }
        }
        values
    };
    let path_ok = |v: Option<&serde_json::Value>| {
        v.is_none_or(|p| p.is_null() || p.as_str().is_some_and(|p| p.starts_with('/')))
    };
    header_values("host").iter().all(|h| valid_host(h))
        && header_values("x-forwarded-proto")
            .iter()
            .all(|p| p == "https")
        && path_ok(event.get("path"))
        && path_ok(event.pointer("/requestContext/path"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(event) = std::str::from_utf8(data) else {
        return;
    };
    match serde_json::from_str::<serde_json::Value>(event) {
        Ok(v) if deliverable(&v) => {}
        _ => return,
    }
    // What lambda_http refuses never reaches the function's code.
    let Ok(request) = lambda_http::request::from_str(event) else {
        return;
    };
    RUNTIME.block_on(async {
        let response = router(DEPS.clone())
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        assert!(!status.is_success(), "nothing answers, yet {status}");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a buffered body");
        let reply: serde_json::Value =
            serde_json::from_slice(&body).expect("a refusal is JSON");
        assert!(
            reply["error"]["code"].as_str().is_some_and(|c| !c.is_empty()),
            "an untyped refusal: {reply}"
        );
    });
});
