//! A LOCAL STAND-IN for the Lambda service's `Invoke` API (buffered, RequestResponse) in
//! front of functions run by [`crate::function_host`], each its own process with its own
//! environment, run from binaries already built (nothing is compiled while a caller waits).
//!
//! Why not cargo-lambda's emulator (`cargo lambda watch`): it runs each function with
//! `cargo run --bin X`, whose feature set differs from a workspace build's, so the first call
//! of each function compiled it again (minutes on a fresh machine, under the cargo lock that
//! parallel tests share); and it gives every function of the workspace one environment, while
//! a deployment that runs one binary twice with different settings (the token vending
//! machine, once per calling role) needs two. `cargo lambda invoke` still works against it: it
//! speaks this same API.
//!
//! As Lambda: function errors come back with status 200, `X-Amz-Function-Error: Unhandled`
//! and the error object as the payload; a client context comes base64-encoded in
//! `X-Amz-Client-Context` (also taken as JSON text in `Lambda-Runtime-Client-Context`, which
//! `cargo lambda invoke` sends) and reaches the function as Lambda hands it on. Not emulated:
//! qualifiers, asynchronous invocation, log tails, payload limits; one instance per function.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::function_host::{FunctionHost, Reply};
use testkit::Error;

/// The functions served, by name.
pub type FunctionList = std::sync::RwLock<Vec<(String, Arc<FunctionHost>)>>;
type Functions = Arc<FunctionList>;

/// The Invoke API; dropping it stops the server (the functions stop with their hosts).
pub type LambdaInvokeApi = crate::aws_model::layer::Served<FunctionList>;

impl LambdaInvokeApi {
    /// Serves `functions` (by name) on 127.0.0.1, on a free port.
    pub async fn start(functions: Vec<(String, Arc<FunctionHost>)>) -> Result<Self, Error> {
        Self::start_on(0, functions).await
    }

    /// Serves `functions` (by name) on 127.0.0.1:`port` (0: a free one).
    pub async fn start_on(
        port: u16,
        functions: Vec<(String, Arc<FunctionHost>)>,
    ) -> Result<Self, Error> {
        let app =
            axum::Router::new().route("/2015-03-31/functions/{function}/invocations", post(invoke));
        Self::serve(
            app,
            std::sync::RwLock::new(functions),
            "lambda",
            &["Invoke"],
            port,
        )
        .await
        .map_err(Error::call("start the Lambda Invoke API stand-in"))
    }

    /// Serves one more function: its callers may need this API's address before it starts
    /// (a function that invokes another is given the endpoint in its environment).
    pub fn add(&self, name: &str, host: Arc<FunctionHost>) {
        self.state()
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.to_owned(), host));
    }

    /// What `AWS_ENDPOINT_URL_LAMBDA` should be for a caller of these functions.
    pub fn endpoint_url(&self) -> String {
        self.endpoint()
    }
}

/// The largest client context Lambda takes, base64-encoded (the Invoke API's documentation).
pub const MAX_CLIENT_CONTEXT_BYTES: usize = 3583;

/// `name`, `arn:...:function:name` or either with a `:qualifier`: the bare name.
fn function_name(raw: &str) -> &str {
    let name = raw.split_once(":function:").map_or(raw, |(_, rest)| rest);
    name.split(':').next().unwrap_or(name)
}

fn aws_error(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        [("x-amzn-ErrorType", kind.to_owned())],
        axum::Json(json!({"Type": "User", "message": message})),
    )
        .into_response()
}

/// The caller's client context as JSON text: `X-Amz-Client-Context` (base64, as the SDK and
/// Lambda take it) or `Lambda-Runtime-Client-Context` (JSON text, as `cargo lambda invoke`
/// sends it). `None` inside `Some`: a context is there but unreadable, which Lambda refuses.
fn client_context(headers: &HeaderMap) -> Option<Option<String>> {
    let json_object = |text: String| {
        serde_json::from_str::<serde_json::Map<String, Value>>(&text)
            .ok()
            .map(|_| text)
    };
    if let Some(raw) = headers.get("x-amz-client-context") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .ok();
        return decoded
            .and_then(|d| String::from_utf8(d).ok())
            .and_then(json_object)
            .map(Some);
    }
    match headers.get("lambda-runtime-client-context") {
        Some(raw) => raw
            .to_str()
            .ok()
            .map(str::to_owned)
            .and_then(json_object)
            .map(Some),
        None => Some(None),
    }
}

async fn invoke(
    State(functions): State<Functions>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Not a model constraint, but the model's documentation of ClientContext: "Up to 3,583
    // bytes of base64-encoded data" (the AgentCore Gateway's propagated headers travel here).
    if headers
        .get("x-amz-client-context")
        .is_some_and(|v| v.len() > MAX_CLIENT_CONTEXT_BYTES)
    {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            format!("Client context must be at most {MAX_CLIENT_CONTEXT_BYTES} bytes of base64"),
        );
    }
    let name = function_name(&function);
    let host = functions
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, h)| h.clone());
    let Some(host) = host else {
        return aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {name}"),
        );
    };
    let event: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "Could not parse request body into json".into(),
            );
        }
    };
    let Some(context) = client_context(&headers) else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "Client context must be a valid Base64-encoded JSON object.".into(),
        );
    };
    let mut replies = match host.invoke_with_context(event, context).await {
        Ok(r) => r,
        Err(e) => {
            return aws_error(
                StatusCode::BAD_GATEWAY,
                "ServiceException",
                format!("the function host failed: {}", testkit::error_chain(&e)),
            );
        }
    };
    let mut payload = Vec::new();
    while let Some(reply) = replies.recv().await {
        match reply {
            Reply::Chunk(b) => payload.extend_from_slice(&b),
            Reply::Failed(error) => {
                return (
                    StatusCode::OK,
                    [("X-Amz-Function-Error", "Unhandled")],
                    axum::Json(error),
                )
                    .into_response();
            }
        }
    }
    (StatusCode::OK, payload).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path as FsPath;

    fn log(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("lambda-api-{name}-{}.log", std::process::id()))
    }

    /// A client context reaches the function as Lambda hands it on (JSON text in
    /// `Lambda-Runtime-Client-Context`), from the SDK's base64 header or cargo-lambda's JSON
    /// one; an unreadable one is refused before the function runs.
    #[tokio::test]
    async fn a_client_context_reaches_the_function_and_a_bad_one_is_refused() {
        // The test plays the function; the process is only something to own.
        let host = Arc::new(
            FunctionHost::start_command(FsPath::new("sleep"), &["30"], "f", &[], &log("cc"))
                .await
                .expect("host"),
        );
        let api = LambdaInvokeApi::start(vec![]).await.expect("api");
        api.add("f", host.clone());
        let runtime = format!(
            "http://{}/2018-06-01/runtime/invocation",
            host.runtime_api()
        );
        let url = format!(
            "{}/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:f/invocations",
            api.endpoint_url()
        );
        let http = reqwest::Client::new();
        let context = r#"{"custom":{"bedrockAgentCoreToolName":"t___x"}}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(context);
        for (header, value) in [
            ("X-Amz-Client-Context", encoded.as_str()),
            ("Lambda-Runtime-Client-Context", context),
        ] {
            let call = tokio::spawn(
                http.post(&url)
                    .header(header, value)
                    .body(r#"{"q":1}"#)
                    .send(),
            );
            let next = http.get(format!("{runtime}/next")).send().await.unwrap();
            assert_eq!(
                next.headers()["lambda-runtime-client-context"],
                context,
                "{header}"
            );
            let id = next.headers()["lambda-runtime-aws-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(next.text().await.unwrap(), r#"{"q":1}"#);
            http.post(format!("{runtime}/{id}/response"))
                .body(r#"{"ok":true}"#)
                .send()
                .await
                .unwrap();
            let reply = call.await.unwrap().unwrap();
            assert_eq!(reply.status(), 200);
            assert_eq!(reply.text().await.unwrap(), r#"{"ok":true}"#);
        }
        for bad in ["not base64!", "bm90IGpzb24="] {
            let reply = http
                .post(&url)
                .header("X-Amz-Client-Context", bad)
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 400, "{bad}");
            assert_eq!(
                reply.headers()["x-amzn-errortype"],
                "InvalidParameterValueException"
            );
        }
        let _ = std::fs::remove_file(log("cc"));
    }

    /// A function whose process has exited is answered at once, not waited for.
    #[tokio::test]
    async fn a_function_whose_process_exited_fails_at_once() {
        let host = Arc::new(
            FunctionHost::start_command(FsPath::new("true"), &[], "gone", &[], &log("gone"))
                .await
                .expect("host"),
        );
        let api = LambdaInvokeApi::start(vec![("gone".into(), host.clone())])
            .await
            .expect("api");
        // Exited: a zombie until the host reaps it (state `Z` in /proc).
        let stat = format!("/proc/{}/stat", host.pid());
        let exited = async {
            while !std::fs::read_to_string(&stat).is_ok_and(|s| s.contains(") Z ")) {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), exited)
            .await
            .expect("`true` exits");
        let reply = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            reqwest::Client::new()
                .post(format!(
                    "{}/2015-03-31/functions/gone/invocations",
                    api.endpoint_url()
                ))
                .body("{}")
                .send(),
        )
        .await
        .expect("answered at once, not queued for a process that is gone")
        .unwrap();
        assert_eq!(reply.status(), 502);
        assert!(reply.text().await.unwrap().contains("exited"));
        let _ = std::fs::remove_file(log("gone"));
    }

    #[test]
    fn names_arns_and_qualifiers_resolve_to_the_function() {
        assert_eq!(function_name("memory-vending"), "memory-vending");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:memory-vending"),
            "memory-vending"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:memory-vending:live"),
            "memory-vending"
        );
        assert_eq!(function_name("memory-vending:live"), "memory-vending");
    }
}
