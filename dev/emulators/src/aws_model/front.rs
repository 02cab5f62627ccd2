//! A validating front for a stand-in that is not ours (moto): every signed request for one of
//! the front's services is checked against that service's model before it is forwarded, so
//! that what moto would accept but AWS would refuse is refused here (the API Gateway key and
//! usage-plan calls of tenant-admin and the devstack, the SSM and Cognito calls). Requests for
//! other services, and unsigned ones (a pool's JWKS), pass through unchecked.
//!
//! `GET /__tenantry/model-checks` answers what the front has checked and refused.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::layer::{Checks, MAX_BODY, judge, too_large, wire};
use super::{ModelError, Operation, Protocol, ServiceModel};

struct Front {
    services: Vec<Arc<ServiceModel>>,
    upstream: String,
    http: reqwest::Client,
    checks: Checks,
}

/// The service a request is signed for: `Credential=<key>/<date>/<region>/<service>/aws4_request`.
fn signed_service(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    let scope: Vec<&str> = credential.split([',', ' ']).next()?.split('/').collect();
    scope.get(3).map(|s| (*s).to_owned())
}

/// Serves the front on 127.0.0.1:`port` (0: any), forwarding to `upstream`, checking the
/// requests of `services` (botocore names; the REST-JSON and JSON protocols are checked, the
/// Query protocol is passed through).
pub async fn serve(
    port: u16,
    upstream: &str,
    services: &[&str],
) -> Result<(SocketAddr, crate::ServerTask, Checks), ModelError> {
    let services = services
        .iter()
        .map(|s| ServiceModel::load(s))
        .collect::<Result<Vec<_>, _>>()?;
    let checks = Checks::default();
    let front = Arc::new(Front {
        services,
        upstream: upstream.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
        checks: checks.clone(),
    });
    let app = Router::new()
        .route("/__tenantry/model-checks", axum::routing::get(report))
        .fallback(forward)
        .with_state(front);
    let (addr, task) = crate::serve_local(app, port)
        .await
        .map_err(|e| ModelError::Invalid {
            service: "front".into(),
            reason: e.to_string(),
        })?;
    Ok((addr, task, checks))
}

async fn report(State(front): State<Arc<Front>>) -> Response {
    axum::Json(serde_json::json!({
        "checked": front.checks.checked(),
        "refused": front.checks.refused(),
    }))
    .into_response()
}

async fn forward(State(front): State<Arc<Front>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return too_large();
    };
    let model = signed_service(&parts.headers).and_then(|name| {
        front
            .services
            .iter()
            .find(|m| m.signing_name() == name && m.protocol != Protocol::Query)
    });
    let mut success_status = None;
    if let Some(model) = model {
        let operations: Vec<&Operation> = model.all_operations();
        match judge(model, &operations, &wire(&parts, &bytes), &front.checks) {
            Ok(op) => success_status = StatusCode::from_u16(op.response_code).ok(),
            Err(refusal) => return *refusal,
        }
    }
    let url = format!(
        "{}{}",
        front.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut upstream = front.http.request(parts.method.clone(), url).body(bytes);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.unwrap_or_default();
            let mut out = Response::new(Body::from(body));
            // A success as the model has it (CreateApiKey's 201), whatever moto answers.
            *out.status_mut() = match success_status {
                Some(modelled) if status.is_success() => modelled,
                _ => status,
            };
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    out.headers_mut().insert(name, value.clone());
                }
            }
            out
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("the stand-in behind the front did not answer: {e}"),
        )
            .into_response(),
    }
}
