//! The wire-level targets of the SDK and the HTTP stack stay capped at `info` under every
//! RUST_LOG an operator might set, span-scoped directives included. The spans below are the
//! ones the binaries really run inside: the Lambda runtime's invocation span, the SDK's
//! operation span and its orchestrator's attempt and deserialization spans (same targets,
//! names, levels and fields as lambda_runtime 1.5 and aws-sdk-dynamodb / aws-smithy-runtime).

use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::{EnvFilter, Layer, Registry};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const PATIENT_ROW: &str = "PATIENT-ROW-Avery-Lindqvist";

/// One tool-target invocation reading a patient row, as its logging sees it.
fn invocation() {
    // tool-target's own loop opens this one; the other functions run inside lambda_runtime's.
    let tool = tracing::info_span!(
        target: "tool_target::runtime",
        "tool_invocation",
        request_id = "3f9c2a4e-0000-4000-8000-000000000001",
        trace_id = "1-5759e988-bd862e3fe1be46a994272793"
    );
    let _tool = tool.enter();
    let invoke = tracing::info_span!(
        target: "lambda_runtime::layers::trace",
        "Lambda runtime invoke",
        requestId = "3f9c2a4e-0000-4000-8000-000000000001",
        xrayTraceId = "Root=1-5759e988-bd862e3fe1be46a994272793"
    );
    let _invoke = invoke.enter();
    tracing::debug!(target: "tool_target::handler", "OWN-DEBUG");
    // What the other content-carrying libraries print at debug and trace (their real targets).
    tracing::trace!(target: "lambda_runtime::runtime", event = PATIENT_ROW, "raw event");
    tracing::trace!(target: "lambda_runtime_api_client", body = PATIENT_ROW, "next");
    tracing::debug!(target: "lambda_http::request", body = PATIENT_ROW, "request");
    tracing::debug!(target: "rmcp::service", message = PATIENT_ROW, "received message");
    tracing::debug!(target: "aws_sigv4::http_request::sign", url = PATIENT_ROW, "signed");
    tracing::trace!(target: "axum::rejection", body = PATIENT_ROW, "rejected");
    tracing::debug!(target: "tower_http::trace::on_request", uri = PATIENT_ROW, "started");
    tracing::info!(target: "aws_config::meta", "WIRE-INFO");
    let operation = tracing::debug_span!(
        target: "aws_sdk_dynamodb::operation::get_item",
        "DynamoDB.GetItem",
        "rpc.service" = "DynamoDB",
        "rpc.method" = "GetItem",
        "sdk_invocation_id" = 4_242_424u32,
        "rpc.system" = "aws-api",
    );
    let _operation = operation.enter();
    let attempt = tracing::debug_span!(
        target: "aws_smithy_runtime::client::orchestrator",
        "try_attempt",
        "attempt" = 1usize
    );
    let _attempt = attempt.enter();
    tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", request = PATIENT_ROW, "transmitting request");
    tracing::trace!(target: "hyper_util::client::legacy::pool", body = PATIENT_ROW, "wire");
    let deserialization = tracing::debug_span!(
        target: "aws_smithy_runtime::client::orchestrator",
        "deserialization"
    );
    let _d = deserialization.enter();
    tracing::debug!(target: "aws_sdk_dynamodb::operation::get_item", response = PATIENT_ROW, "deserialized");
}

fn run_with<F>(filter: F) -> String
where
    F: Filter<Registry> + Send + Sync + 'static,
{
    let out = Buffer::default();
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(out.clone())
        .with_filter(filter);
    tracing::subscriber::with_default(Registry::default().with(layer), invocation);
    let bytes = out.0.lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Directives that name the spans the binaries and the SDK open, by name and by field, and
/// whether they enable `info` in the invocation span (outside the SDK's spans).
const SPAN_SCOPED: [(&str, bool); 10] = [
    ("[tool_invocation]=trace", true),
    ("[{trace_id}]=trace", true),
    ("[Lambda runtime invoke]=trace", true),
    ("[{requestId}]=trace", true),
    ("[DynamoDB.GetItem]=trace", false),
    ("[{rpc.service=DynamoDB}]=trace", false),
    ("[try_attempt]=trace", false),
    ("info,[deserialization]=trace", true),
    ("aws_smithy_runtime[try_attempt]=trace", true),
    ("trace,aws_smithy_runtime=trace,hyper_util=trace", true),
];

// One test, run in sequence on one thread: tracing caches callsite interest per process, and
// subscribers set on parallel threads would race on it.
#[test]
fn no_directive_lifts_the_wire_cap_and_the_users_still_apply() {
    for (directive, enables_info) in SPAN_SCOPED {
        // Without the cap the scenario is real: the directive does reach the wire events.
        let bare = run_with(EnvFilter::new(directive));
        if directive != "aws_smithy_runtime[try_attempt]=trace" {
            assert!(
                bare.contains(PATIENT_ROW),
                "{directive}: the scenario should leak without the cap: {bare}"
            );
        }

        let capped = run_with(telemetry::logging::filter(Some(directive)));
        assert!(
            !capped.contains(PATIENT_ROW),
            "{directive} lifted the wire cap: {capped}"
        );
        assert_eq!(
            capped.contains("WIRE-INFO"),
            enables_info,
            "{directive}: the cap is a level, not an off switch: {capped}"
        );
    }

    // The user's own directives still apply to the binaries' targets.
    for directive in [
        "trace",
        "[Lambda runtime invoke]=trace",
        "[{requestId}]=debug",
    ] {
        let capped = run_with(telemetry::logging::filter(Some(directive)));
        assert!(capped.contains("OWN-DEBUG"), "{directive}: {capped}");
    }
    for directive in [None, Some("info"), Some("not a [valid directive")] {
        let capped = run_with(telemetry::logging::filter(directive));
        assert!(!capped.contains("OWN-DEBUG"), "{directive:?}: {capped}");
        assert!(capped.contains("WIRE-INFO"), "{directive:?}: {capped}");
    }
}
