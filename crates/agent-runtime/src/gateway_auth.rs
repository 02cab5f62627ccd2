//! The agent's calls to its tier's AgentCore Gateway, signed with SigV4 by the runtime's own
//! role: the Gateway's inbound authorizer is `AWS_IAM`, and only the tier's runtime role may
//! `bedrock-agentcore:InvokeGateway` it, so no credential a user holds opens it.
//!
//! rmcp's streamable-HTTP client sends the requests itself, so the signature is computed over
//! exactly what it will send (method, URL, the JSON body as `reqwest`'s `.json()` writes it,
//! and every header we know it adds) and handed to it as extra headers. A hand-written
//! wrapper because rmcp has no request hook and no AWS-signing transport exists for Rust.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use request_signing::{RoleCredentials, UnsignedRequest};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;

/// SigV4's service name for AgentCore (the Gateway's data plane included).
pub const SIGNING_SERVICE: &str = "bedrock-agentcore";
/// The MCP session header (rmcp adds it; it is signed like every header we know of).
const SESSION_HEADER: &str = "mcp-session-id";

type Error = StreamableHttpError<reqwest::Error>;

/// `reqwest::Client`, with each request signed by the runtime's role.
#[derive(Debug, Clone)]
pub struct SignedGatewayClient {
    http: reqwest::Client,
    role: RoleCredentials,
    live: Option<LiveHeaders>,
}

/// Headers read at each request rather than fixed when the MCP session opens: a session kept
/// across invocations sends each invocation's caller token (rmcp's own custom headers are set
/// once per transport).
#[derive(Debug, Clone, Default)]
pub struct LiveHeaders(Arc<std::sync::RwLock<HashMap<HeaderName, HeaderValue>>>);

impl LiveHeaders {
    /// Replaces every live header.
    pub fn set(&self, headers: HashMap<HeaderName, HeaderValue>) {
        // A poisoned lock only means a writer panicked mid-replace; the map is replaced whole.
        let mut slot = self.0.write().unwrap_or_else(|p| p.into_inner());
        *slot = headers;
    }

    fn current(&self) -> HashMap<HeaderName, HeaderValue> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl SignedGatewayClient {
    pub fn new(http: reqwest::Client, role: RoleCredentials) -> Self {
        Self {
            http,
            role,
            live: None,
        }
    }

    /// This client, also sending (and signing) `live`'s headers as they are at each request.
    pub fn with_live_headers(&self, live: LiveHeaders) -> Self {
        Self {
            live: Some(live),
            ..self.clone()
        }
    }

    /// `custom` plus the signature over `method uri`, `body`, `host`, the session id and
    /// every header in `custom`.
    async fn signed(
        &self,
        method: &str,
        uri: &str,
        body: &[u8],
        session: Option<&str>,
        mut custom: HashMap<HeaderName, HeaderValue>,
        content_type: Option<&'static str>,
    ) -> Result<HashMap<HeaderName, HeaderValue>, Error> {
        let host =
            request_signing::host_of(uri).ok_or_else(|| unsigned("the Gateway URL has no host"))?;
        if let Some(live) = &self.live {
            custom.extend(live.current());
        }
        if let Some(ct) = content_type {
            custom.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let mut signed: Vec<(&str, &str)> = vec![("host", host.as_str())];
        if let Some(session) = session {
            signed.push((SESSION_HEADER, session));
        }
        for (name, value) in &custom {
            let value = value
                .to_str()
                .map_err(|_| unsigned("a header value is not text"))?;
            signed.push((name.as_str(), value));
        }
        let headers = self
            .role
            .signature_headers(
                SIGNING_SERVICE,
                &UnsignedRequest {
                    method,
                    uri,
                    headers: &signed,
                    body,
                },
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "the Gateway request could not be signed");
                unsigned("the Gateway request could not be signed")
            })?;
        for (name, value) in headers {
            custom.insert(
                HeaderName::try_from(name).map_err(|_| unsigned("bad signature header"))?,
                HeaderValue::try_from(value).map_err(|_| unsigned("bad signature header"))?,
            );
        }
        Ok(custom)
    }
}

fn unsigned(why: &'static str) -> Error {
    StreamableHttpError::UnexpectedServerResponse(why.into())
}

impl StreamableHttpClient for SignedGatewayClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        // Never a bearer token: the Gateway takes only the signature.
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error> {
        // The bytes reqwest's `.json()` sends (serde_json::to_vec of the same value).
        let body = serde_json::to_vec(&message)?;
        let headers = self
            .signed(
                "POST",
                &uri,
                &body,
                session_id.as_deref(),
                custom_headers,
                Some("application/json"),
            )
            .await?;
        self.http
            .post_message_with_response_limits(uri, message, session_id, None, headers, limits)
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        let headers = self
            .signed("DELETE", &uri, &[], Some(&session_id), custom_headers, None)
            .await?;
        self.http
            .delete_session(uri, session_id, None, headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default().max_sse_event_size,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        // rmcp adds Last-Event-Id after us: sent unsigned (SigV4 requires only `host` and
        // the `x-amz-*` headers to be signed).
        let headers = self
            .signed(
                "GET",
                &uri,
                &[],
                session_id.as_deref(),
                custom_headers,
                None,
            )
            .await?;
        self.http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                None,
                headers,
                max_sse_event_size,
            )
            .await
    }
}
