//! The web chat (`web/`, static files) served for the local stack, with what a deployment's
//! site would get from its hosting: `config.json` (where the API and the user pool are), and
//! the API under the same origin (`/api/...` passed through, answers streamed as they come),
//! as one CDN distribution in front of the site and the API would give it. The browser signs
//! in directly with the user pool (the moto STAND-IN answers CORS as Cognito does).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tower_http::services::ServeDir;

use crate::{DemoUser, StackError};

/// What the page is told about the stack it talks to.
pub struct SiteConfig<'a> {
    /// The API's root (`http://127.0.0.1:<port>`), passed through under `/api`.
    pub api_root: String,
    /// The stage, so the page posts to `api/<stage>/invoke`.
    pub stage: &'a str,
    pub cognito_endpoint: String,
    pub client_id: String,
    pub region: String,
    pub users: &'a [DemoUser],
}

struct Shared {
    config: Value,
    api_root: String,
    http: reqwest::Client,
}

/// The running site; dropping it stops it.
pub struct WebApp {
    addr: SocketAddr,
    _server: emulators::ServerTask,
}

impl WebApp {
    pub async fn start(dir: &Path, site: SiteConfig<'_>, port: u16) -> Result<Self, StackError> {
        if !dir.join("index.html").is_file() {
            return Err(StackError::Setup {
                what: format!(
                    "no web chat at {} (run from the workspace root)",
                    dir.display()
                ),
            });
        }
        let shared = Arc::new(Shared {
            config: page_config(&site),
            api_root: site.api_root.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|e| StackError::Setup {
                    what: format!("the web chat's HTTP client: {e}"),
                })?,
        });
        let app = axum::Router::new()
            .route("/config.json", get(config))
            .route("/api/{*rest}", any(pass_through))
            .fallback_service(ServeDir::new(dir))
            .with_state(shared);
        let (addr, server) =
            emulators::serve_local(app, port)
                .await
                .map_err(|e| StackError::Setup {
                    what: format!(
                        "serve the web chat on 127.0.0.1:{port}: {e} (is another devstack running? `devstack up --web-port 0` takes any free port)"
                    ),
                })?;
        Ok(Self {
            addr,
            _server: server,
        })
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

fn page_config(site: &SiteConfig<'_>) -> Value {
    let users: Vec<Value> = site
        .users
        .iter()
        .map(|u| {
            json!({
                "username": u.username,
                "password": u.password,
                "clinicId": u.clinic_id,
                "clinicName": u.clinic_name,
                "tier": u.tier,
                "role": u.role,
            })
        })
        .collect();
    json!({
        "apiUrl": format!("api/{}/invoke", site.stage),
        "usageUrl": format!("api/{}/usage", site.stage),
        "auditUrl": format!("api/{}/audit", site.stage),
        "cognito": {
            "endpoint": site.cognito_endpoint,
            "clientId": site.client_id,
            "region": site.region,
        },
        "local": true,
        "localNote": "LOCAL STACK: stand-in services on this machine and a deterministic model stand-in, not AWS and not a language model. Synthetic patients only.",
        "demoUsers": users,
    })
}

async fn config(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(shared.config.clone()),
    )
}

/// Request headers a browser's call to the API carries; nothing else is passed on.
const REQUEST_HEADERS: [HeaderName; 3] =
    [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT];
/// Answer headers the page reads.
const ANSWER_HEADERS: [&str; 4] = [
    "content-type",
    contracts::headers::PROXY_SESSION_ID,
    "x-amzn-errortype",
    "retry-after",
];

async fn pass_through(
    State(shared): State<Arc<Shared>>,
    UrlPath(rest): UrlPath<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // The query string too (GET /audit's filters), as CloudFront passes it on the deployed site.
    let url = match query {
        Some(q) => format!("{}/{rest}?{q}", shared.api_root),
        None => format!("{}/{rest}", shared.api_root),
    };
    let mut req = shared.http.request(method, url).body(body);
    for name in REQUEST_HEADERS {
        for value in headers.get_all(&name) {
            req = req.header(&name, value);
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "the web chat could not reach the API");
            return (
                StatusCode::BAD_GATEWAY,
                Json(json!({"error": {"code": "api_unreachable",
                                      "message": "the local API is not answering"}})),
            )
                .into_response();
        }
    };
    let mut out = Response::builder().status(resp.status().as_u16());
    for name in ANSWER_HEADERS {
        if let Some(v) = resp.headers().get(name) {
            out = out.header(name, v.as_bytes());
        }
    }
    // Streamed on as it arrives: the page shows the assistant's steps while it works.
    out.body(Body::from_stream(resp.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
