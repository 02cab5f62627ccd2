//! LOCAL STAND-IN for an OTLP trace collector (X-Ray's OTLP endpoint when deployed): accepts
//! `POST /v1/traces` (HTTP/protobuf), keeps the decoded spans and the raw bodies in memory, so
//! tests and the devstack can see what the agent exports. No signature check, no storage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;

use testkit::Error;

/// One exported span, flattened: its name, trace id (hex), attributes (as strings) and the
/// service name of its resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    pub name: String,
    pub trace_id: String,
    pub service: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    bodies: Vec<Vec<u8>>,
}

pub struct OtlpReceiver {
    endpoint: String,
    received: Arc<Mutex<Received>>,
    _server: crate::ServerTask,
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn traces(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut spans = Vec::new();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(ReceivedSpan {
                name: span.name,
                trace_id: hex(&span.trace_id),
                service: service.clone(),
                attributes: span
                    .attributes
                    .iter()
                    .map(|kv| {
                        (
                            kv.key.clone(),
                            text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                        )
                    })
                    .collect(),
            });
        }
    }
    if let Ok(mut r) = received.lock() {
        r.spans.extend(spans);
        r.bodies.push(body.to_vec());
    }
    StatusCode::OK
}

impl OtlpReceiver {
    pub async fn start() -> Result<Self, Error> {
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(received.clone());
        let (addr, server) = crate::serve_local(app, 0)
            .await
            .map_err(Error::call("start the OTLP receiver"))?;
        Ok(Self {
            endpoint: format!("http://{addr}/v1/traces"),
            received,
            _server: server,
        })
    }

    /// The value for `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received
            .lock()
            .map(|r| r.spans.clone())
            .unwrap_or_default()
    }

    /// Every exported body as received, to search for what must never leave the agent.
    pub fn raw_bodies(&self) -> Vec<Vec<u8>> {
        self.received
            .lock()
            .map(|r| r.bodies.clone())
            .unwrap_or_default()
    }
}
