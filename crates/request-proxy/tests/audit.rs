//! `GET /audit` on the CloudWatch Logs stand-in: a clinic admin reads its own clinic's events
//! (never another clinic's, whatever the query, a header or a page token says), filtered by
//! patient, paginated with sealed tokens; other roles are refused.

mod support;

use std::sync::Arc;
use std::time::Duration;

use audit_trail::{AuditLog, PageSeal};
use request_proxy::Deps;
use request_proxy::audit::AuditReader;
use serde_json::Value;
use support::*;

const AUDIT_EVENT: &str = fixture!("audit-clinic-a-admin.json");

async fn group_with_events() -> String {
    let endpoints = testkit::endpoints_or_panic();
    let group = testkit::audit_group::create(&endpoints, "proxy-audit")
        .await
        .unwrap();
    testkit::audit_group::record_reads(
        &endpoints,
        &group,
        &[
            ("clinic-a", "p-1001"),
            ("clinic-a", "p-1002"),
            ("clinic-a", "p-1001"),
            ("clinic-a", "p-1001"),
            ("clinic-b", "p-1001"),
        ],
    )
    .await
    .unwrap();
    group
}

fn deps_with_audit(group: &str) -> Arc<Deps> {
    let endpoints = testkit::endpoints_or_panic();
    let base = deps("http://127.0.0.1:9", Duration::from_secs(5));
    let mut deps = Arc::try_unwrap(base).unwrap_or_else(|_| panic!("one owner"));
    deps.audit = Some(AuditReader {
        log: AuditLog::new(&testkit::sdk::moto_config(&endpoints), group.to_owned()),
        seal: PageSeal::derived(&[9u8; 32]).unwrap(),
    });
    Arc::new(deps)
}

fn with_query(event: &str, pairs: &[(&str, &str)]) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    let single: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, val)| (k.to_string(), Value::from(*val)))
        .collect();
    let multi: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, val)| (k.to_string(), Value::from(vec![*val])))
        .collect();
    v["queryStringParameters"] = single.into();
    v["multiValueQueryStringParameters"] = multi.into();
    v.to_string()
}

async fn get(deps: Arc<Deps>, event: &str) -> (u16, Value) {
    let (status, _, body) = call(deps, event).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_admin_reads_its_own_clinics_trail_by_patient_and_never_another_clinics() {
    let deps = deps_with_audit(&group_with_events().await);
    // The fixture also names clinic-b in a header: the trail is still clinic-a's.
    let (status, reply) = get(deps.clone(), AUDIT_EVENT).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["clinic_id"], "clinic-a");
    let events = reply["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{reply}");
    assert!(
        events
            .iter()
            .all(|e| e["clinic_id"] == "clinic-a"
                && e["patient_ids"] == serde_json::json!(["p-1001"]))
    );

    // Naming a clinic is refused by name, not ignored.
    let (status, reply) = get(
        deps.clone(),
        &with_query(AUDIT_EVENT, &[("clinic", "clinic-b")]),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["code"], "bad_query");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("your own clinic")
    );
}

/// A repeated parameter, as API Gateway passes it (every value in the multi-value map, one of
/// them in the single-value map), is refused rather than resolved to either value.
#[tokio::test]
async fn a_repeated_parameter_is_refused_whichever_value_the_gateway_keeps() {
    let deps = deps_with_audit(&group_with_events().await);
    for kept in ["p-1001", "p-1002"] {
        let mut v: Value = serde_json::from_str(AUDIT_EVENT).unwrap();
        v["queryStringParameters"] = serde_json::json!({ "patient": kept });
        v["multiValueQueryStringParameters"] =
            serde_json::json!({ "patient": ["p-1001", "p-1002"] });
        let (status, reply) = get(deps.clone(), &v.to_string()).await;
        assert_eq!(status, 400, "{reply}");
        assert_eq!(reply["error"]["code"], "bad_query");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("more than once"),
            "{reply}"
        );
    }
}

#[tokio::test]
async fn pages_continue_only_for_the_clinic_and_query_they_were_sealed_for() {
    let deps = deps_with_audit(&group_with_events().await);
    let (status, first) = get(deps.clone(), &with_query(AUDIT_EVENT, &[("limit", "1")])).await;
    assert_eq!(status, 200, "{first}");
    let token = first["next_token"].as_str().expect("more pages").to_owned();
    let mut seen = first["events"].as_array().unwrap().len();
    let mut next = Some(token.clone());
    while let Some(t) = next {
        let (status, page) = get(
            deps.clone(),
            &with_query(AUDIT_EVENT, &[("limit", "1"), ("next_token", &t)]),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["clinic_id"] == "clinic-a")
        );
        seen += page["events"].as_array().unwrap().len();
        next = page["next_token"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 4);
    // The same token with another patient filter: refused.
    let (status, reply) = get(
        deps.clone(),
        &with_query(
            AUDIT_EVENT,
            &[("patient", "p-1002"), ("next_token", &token)],
        ),
    )
    .await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (400, Some("next_token_other_query"))
    );
    // A token of clinic-a presented by clinic-b's admin: refused before anything is read.
    let mut b: Value = serde_json::from_str(&as_role(
        &with_query(AUDIT_EVENT, &[("next_token", &token)]),
        "admin",
    ))
    .unwrap();
    let mut claims = clinic_a_claims();
    claims["custom:role"] = "admin".into();
    claims["custom:clinic_id"] = "clinic-b".into();
    let bearer = format!("Bearer {}", unsigned_token(&claims));
    b["requestContext"]["authorizer"]["custom:clinic_id"] = "clinic-b".into();
    b["headers"]["Authorization"] = bearer.clone().into();
    b["multiValueHeaders"]["Authorization"] = serde_json::json!([bearer]);
    let (status, reply) = get(deps.clone(), &b.to_string()).await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (400, Some("next_token_other_query")),
        "{reply}"
    );
    // A forged token: refused.
    let (status, reply) = get(
        deps,
        &with_query(AUDIT_EVENT, &[("next_token", "e30.AAAA")]),
    )
    .await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (400, Some("next_token_invalid"))
    );
}

#[tokio::test]
async fn only_roles_that_read_the_trail_may_and_a_deployment_without_one_says_so() {
    let with = deps_with_audit(&group_with_events().await);
    for role in ["clinician", "nurse", "specialist"] {
        let (status, reply) = get(with.clone(), &as_role(AUDIT_EVENT, role)).await;
        assert_eq!(status, 403, "{role}: {reply}");
        assert_eq!(reply["error"]["code"], "audit_not_for_role");
    }
    let plain = deps("http://127.0.0.1:9", Duration::from_secs(5));
    let (status, reply) = get(plain, AUDIT_EVENT).await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (501, Some("audit_not_configured"))
    );
}
