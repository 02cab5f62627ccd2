//! OpenTelemetry traces for the agent: `tracing` spans become OTel spans (tracing-opentelemetry),
//! every span carries the tenant baggage as attributes, and spans leave over OTLP HTTP/protobuf.
//!
//! AgentCore runs no collector beside a custom container, so the deployed agent exports straight
//! to X-Ray's OTLP endpoint (`https://xray.<region>.amazonaws.com/v1/traces`), SigV4-signed with
//! the runtime's role; any other endpoint (a local collector) gets plain requests. Unset: no
//! export and no OTel layer at all.
//!
//! What spans may carry: identifiers (the hashed session id, tier, clinic id, actor id, model
//! id, tool names, token counts). Never a prompt, an answer, tool arguments or results: those
//! can hold patient data, and spans leave the process.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use request_signing::RoleCredentials;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, Registry};

/// The standard OpenTelemetry variable for where spans go (`.../v1/traces`).
pub const ENV_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The standard variable for the `service.name` resource attribute.
pub const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// Baggage keys copied onto every span, so a trace can be filtered by tenant. Their values are
/// identifiers set from the verified token, never PHI (baggage travels in headers).
pub const BAGGAGE_KEYS: [&str; 4] = ["session.id", "tier", "clinic_id", "actor_id"];

/// The SigV4 service name of X-Ray's OTLP endpoint.
const XRAY_SERVICE: &str = "xray";
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("spans to {endpoint} must be SigV4-signed, and no AWS credentials were given")]
    NoCredentials { endpoint: String },
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(String),
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Where spans go, read from the standard OpenTelemetry variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceExport {
    pub endpoint: String,
    /// Set when the endpoint is X-Ray's: spans are then signed for this region.
    pub signing_region: Option<String>,
    pub service_name: Option<String>,
}

impl TraceExport {
    /// `None` when no endpoint is set. An endpoint must be `https://`, or `http://` to a
    /// loopback host (a local collector): spans name tenants and must not cross a network in
    /// clear text.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, TelemetryError> {
        let Some(raw) = get(ENV_TRACES_ENDPOINT).filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let invalid = |reason: &str| TelemetryError::Invalid {
            var: ENV_TRACES_ENDPOINT,
            reason: reason.to_owned(),
        };
        let url = env_config::secure_endpoint(ENV_TRACES_ENDPOINT, &raw)
            .map_err(|e| invalid(&e.reason))?;
        let signing_region = url.host_str().and_then(|h| {
            h.strip_prefix("xray.")
                .and_then(|rest| rest.strip_suffix(".amazonaws.com"))
                .filter(|region| !region.is_empty() && !region.contains('.'))
                .map(str::to_owned)
        });
        Ok(Some(Self {
            endpoint: raw.trim().to_owned(),
            signing_region,
            service_name: get(ENV_SERVICE_NAME).filter(|v| !v.trim().is_empty()),
        }))
    }
}

/// The installed logs and traces; `shutdown` flushes the spans still queued.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber: the JSON logs of `logging`, and, when `export` is set, an
    /// OTel layer for the spans of `span_targets` (the binary's own crates: the spans of the
    /// HTTP and MCP libraries stay out). `role` signs exports to X-Ray. Call inside the Tokio
    /// runtime: exports run on it.
    pub fn init(
        default_service: &str,
        export: Option<TraceExport>,
        role: Option<RoleCredentials>,
        span_targets: &[&str],
    ) -> Result<Self, TelemetryError> {
        let filter = crate::logging::filter(std::env::var("RUST_LOG").ok().as_deref());
        let logs = tracing_subscriber::fmt::layer().json();
        let Some(export) = export else {
            Registry::default()
                .with(logs.with_filter(filter))
                .try_init()
                .map_err(|_| TelemetryError::AlreadyInstalled)?;
            return Ok(Self { provider: None });
        };
        let provider = provider(default_service, &export, role)?;
        let tracer = provider.tracer("tenantry");
        let targets = span_targets.iter().fold(Targets::new(), |t, target| {
            t.with_target(*target, LevelFilter::INFO)
        });
        Registry::default()
            .with(logs.with_filter(filter))
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(targets),
            )
            .try_init()
            .map_err(|_| TelemetryError::AlreadyInstalled)?;
        Ok(Self {
            provider: Some(provider),
        })
    }

    /// Exports what is queued (at most a few seconds) and stops the exporter.
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown_with_timeout(Duration::from_secs(5))
        {
            tracing::warn!(error = %e, "spans still queued at shutdown were not exported");
        }
    }
}

/// The tracer provider: the baggage processor first (it only writes attributes at start), then
/// the batch exporter.
pub fn provider(
    default_service: &str,
    export: &TraceExport,
    role: Option<RoleCredentials>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let signer = match (&export.signing_region, role) {
        (None, _) => None,
        (Some(region), Some(role)) => Some(role.for_region(region.clone())),
        (Some(_), None) => {
            return Err(TelemetryError::NoCredentials {
                endpoint: export.endpoint.clone(),
            });
        }
    };
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| TelemetryError::Exporter("no Tokio runtime to export on".into()))?;
    let client = ExportClient {
        http: shared_https::roots()
            .reqwest_builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?,
        signer,
        runtime,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(export.endpoint.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let service = export
        .service_name
        .clone()
        .unwrap_or_else(|| default_service.to_owned());
    Ok(SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build())
        .with_span_processor(BaggageAttributes)
        .with_batch_exporter(exporter)
        .build())
}

/// The context an invocation's spans start from: the caller's trace (W3C `traceparent`, so
/// the Runtime's and the proxy's spans join the same trace) and the tenant baggage built from
/// the verified token. A `baggage` header the caller sent is ignored: a caller must not be able
/// to label its spans as another tenant's.
pub fn invocation_context(
    headers: &http::HeaderMap,
    baggage: [(&'static str, String); 4],
) -> Context {
    TraceContextPropagator::new()
        .extract(&HeaderExtractor(headers))
        .with_baggage(baggage.map(|(k, v)| KeyValue::new(k, v)))
}

/// Makes `span` (an invocation's root span) a child of the caller's trace carrying the tenant
/// baggage; its child spans inherit both. Without an OTel layer installed this does nothing.
pub fn adopt(
    span: &tracing::Span,
    headers: &http::HeaderMap,
    baggage: [(&'static str, String); 4],
) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    // Fails only when the span is not tracked by an OTel layer (no export configured).
    let _ = span.set_parent(invocation_context(headers, baggage));
}

/// Copies the [`BAGGAGE_KEYS`] of a span's parent context onto the span. OTel does not do this
/// by itself: baggage travels with the context, attributes with the span.
#[derive(Debug)]
pub struct BaggageAttributes;

impl SpanProcessor for BaggageAttributes {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        use opentelemetry::trace::Span as _;
        let baggage = cx.baggage();
        for key in BAGGAGE_KEYS {
            if let Some(value) = baggage.get(key) {
                span.set_attribute(KeyValue::new(key, value.to_string()));
            }
        }
    }

    fn on_end(&self, _span: SpanData) {}

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The exporter's HTTP client: the project's reqwest, on the Tokio runtime (the batch
/// processor calls it from its own thread), signing for X-Ray when the endpoint is X-Ray's.
#[derive(Debug)]
struct ExportClient {
    http: reqwest::Client,
    signer: Option<RoleCredentials>,
    runtime: tokio::runtime::Handle,
}

#[async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let signer = self.signer.clone();
        let send = async move {
            let mut request = request;
            if let Some(s) = signer {
                s.sign(XRAY_SERVICE, &mut request).await?;
            }
            let (parts, body) = request.into_parts();
            let resp = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut out = http::Response::builder().status(resp.status());
            if let Some(h) = out.headers_mut() {
                *h = resp.headers().clone();
            }
            Ok::<_, HttpError>(out.body(resp.bytes().await?)?)
        };
        self.runtime
            .spawn(send)
            .await
            .map_err(|e| Box::new(e) as HttpError)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceContextExt as _, TraceId};
    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| pairs.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_endpoint_decides_export_and_signing() {
        assert_eq!(TraceExport::from_lookup(lookup(&[])).unwrap(), None);
        let xray = TraceExport::from_lookup(lookup(&[(
            ENV_TRACES_ENDPOINT,
            "https://xray.eu-west-1.amazonaws.com/v1/traces",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(xray.signing_region.as_deref(), Some("eu-west-1"));
        let local = TraceExport::from_lookup(lookup(&[(
            ENV_TRACES_ENDPOINT,
            "http://127.0.0.1:4318/v1/traces",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(local.signing_region, None);
        for bad in [
            "http://collector.example/v1/traces",
            "ftp://127.0.0.1/v1/traces",
            "nonsense",
        ] {
            assert!(
                TraceExport::from_lookup(lookup(&[(ENV_TRACES_ENDPOINT, bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn x_ray_is_never_sent_unsigned_spans() {
        let export = TraceExport {
            endpoint: "https://xray.us-east-1.amazonaws.com/v1/traces".into(),
            signing_region: Some("us-east-1".into()),
            service_name: None,
        };
        assert!(matches!(
            provider("agent", &export, None),
            Err(TelemetryError::NoCredentials { .. })
        ));
    }

    fn tenant() -> [(&'static str, String); 4] {
        [
            ("session.id", "3f2a9c1d0b7e".into()),
            ("tier", "basic".into()),
            ("clinic_id", "clinic-a".into()),
            ("actor_id", "clinic-a:user-1".into()),
        ]
    }

    #[test]
    fn every_span_carries_the_tenant_baggage_and_joins_the_callers_trace() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BaggageAttributes)
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = Registry::default()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        // The caller's baggage tries to relabel the spans: it must not get through.
        headers.insert(
            "baggage",
            "tier=premium,clinic_id=clinic-b".parse().unwrap(),
        );
        tracing::subscriber::with_default(subscriber, || {
            let root = tracing::info_span!("invocation");
            let _ = root.set_parent(invocation_context(&headers, tenant()));
            root.in_scope(|| {
                let child = tracing::info_span!("chat");
                child.in_scope(|| {
                    let grandchild = tracing::info_span!("execute_tool");
                    let _e = grandchild.enter();
                });
            });
        });
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 3);
        for span in &spans {
            let attr = |k: &str| {
                span.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == k)
                    .map(|kv| kv.value.to_string())
            };
            assert_eq!(attr("tier").as_deref(), Some("basic"), "{}", span.name);
            assert_eq!(
                attr("clinic_id").as_deref(),
                Some("clinic-a"),
                "{}",
                span.name
            );
            assert_eq!(attr("session.id").as_deref(), Some("3f2a9c1d0b7e"));
            assert_eq!(attr("actor_id").as_deref(), Some("clinic-a:user-1"));
            assert_eq!(
                span.span_context.trace_id(),
                TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
            );
        }
        let cx = invocation_context(&headers, tenant());
        assert!(cx.span().span_context().is_remote());
    }
}
