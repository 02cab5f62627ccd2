//! The model: an OpenAI-compatible Chat Completions client.
//!
//! Deployed, this is Amazon Bedrock's OpenAI-compatible endpoint with the tier's Bedrock
//! project; locally, the model stand-in or any OpenAI-compatible server (llama.cpp, vLLM,
//! Ollama). Written over reqwest with tolerant serde types rather than an OpenAI client crate:
//! the endpoint's replies carry fields those crates do not know (gpt-oss reasoning fields), and
//! the common crate refuses tool calls without a `type`, which some servers omit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use request_signing::BedrockKeys;

use crate::config::{ModelAuth, ModelConfig};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn tool_result(call_id: &str, text: String) -> Self {
        Self {
            role: Role::Tool,
            content: Some(text),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.to_owned()),
        }
    }
}

fn function_type() -> String {
    "function".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCall {
    pub id: String,
    /// Some servers omit it; it can only be `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FunctionCall {
    pub name: String,
    /// A JSON object as a string (the OpenAI wire form).
    #[serde(default)]
    pub arguments: String,
}

/// A tool as offered to the model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolSpec {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionSpec,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunctionSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: &'a [Message],
    #[serde(skip_serializing_if = "<[ToolSpec]>::is_empty")]
    pub tools: &'a [ToolSpec],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<&'static str>,
    pub max_tokens: u32,
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// Asks a streamed completion to end with its token usage (cost attribution needs it).
#[derive(Debug, Serialize)]
pub struct StreamOptions {
    pub include_usage: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

#[derive(Debug, Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// One model turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<String>,
    /// `None` when the server reported no usage.
    pub usage: Option<Usage>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ModelError {
    #[error("the model endpoint is throttling requests and did not recover before the deadline")]
    Throttled,
    #[error(
        "the model endpoint is unavailable (HTTP {status:?}) and did not recover before the deadline"
    )]
    Unavailable { status: Option<u16> },
    #[error("the model did not answer before the deadline")]
    Timeout,
    #[error("the model endpoint refused the request (HTTP {status})")]
    Refused { status: u16 },
    #[error("the model endpoint answered with something that is not a chat completion")]
    BadResponse,
    /// The reason stays in the log: the caller sees a fixed text (a signer's or a credential
    /// provider's message may carry request details).
    #[error("no credentials for the model endpoint")]
    NoCredentials,
}

impl ModelError {
    pub fn code(&self) -> contracts::AgentErrorCode {
        use contracts::AgentErrorCode as C;
        match self {
            Self::Throttled => C::ModelThrottled,
            Self::Unavailable { .. } => C::ModelUnavailable,
            Self::Timeout => C::ModelTimeout,
            Self::Refused { .. } => C::ModelRefused,
            Self::BadResponse => C::ModelBadResponse,
            Self::NoCredentials => C::ModelCredentialsUnavailable,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.code().retryable()
    }
}

/// Backoff between attempts: full jitter over an exponential ceiling (AWS's recommended form),
/// and at most `max_attempts` attempts in all, as the AWS SDKs' standard retry mode: a model
/// that is down is reported within seconds, not after the turn's whole deadline.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
            max_attempts: 4,
        }
    }
}

impl Backoff {
    fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let jitter = getrandom::u64().unwrap_or(u64::MAX / 2) % (ceiling.as_millis() as u64 + 1);
        Duration::from_millis(jitter)
    }
}

#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    config: ModelConfig,
    /// Set when `config.auth` is `Role`.
    keys: Option<BedrockKeys>,
    /// The configured completions URL and, where there is one, the other route prefix.
    urls: Vec<String>,
    /// Which of `urls` answers for this model (shared by the clones).
    route: Arc<AtomicUsize>,
    backoff: Backoff,
}

/// Bedrock's OpenAI-compatible endpoint serves each model under one route prefix, `/v1` or
/// `/openai/v1`, and refuses it under the other ("isn't supported on this route"); which one a
/// model takes is not in the service model. The configured prefix is tried first, and the other
/// once when the endpoint refuses the route; the one that answered is kept for the process.
fn alternate_base(base: &str) -> Option<String> {
    let base = base.trim_end_matches('/');
    if let Some(root) = base.strip_suffix("/openai/v1") {
        Some(format!("{root}/v1"))
    } else {
        base.strip_suffix("/v1")
            .map(|root| format!("{root}/openai/v1"))
    }
}

/// A refusal of the route rather than of the request: 404, or 400 naming the route.
fn route_refused(status: u16, body: &[u8]) -> bool {
    status == 404
        || (status == 400
            && String::from_utf8_lossy(body)
                .to_ascii_lowercase()
                .contains("route"))
}

impl ChatClient {
    /// `keys` mints the short-term keys when `config.auth` is `Role`; a client so configured
    /// without them sends nothing unauthenticated: every call fails `NoCredentials`.
    pub fn new(http: reqwest::Client, config: ModelConfig, keys: Option<BedrockKeys>) -> Self {
        let base = config.base_url.trim_end_matches('/');
        let mut urls = vec![format!("{base}/chat/completions")];
        if let Some(other) = alternate_base(base) {
            urls.push(format!("{other}/chat/completions"));
        }
        Self {
            http,
            config,
            keys,
            urls,
            route: Arc::new(AtomicUsize::new(0)),
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn model_id(&self) -> &str {
        &self.config.model_id
    }

    /// One chat completion, asked for as a stream (see `model_stream`); 429, 5xx, timeouts and
    /// connection failures are retried with jittered backoff, up to the backoff's attempts and
    /// within `deadline`, then reported as the last failure's kind. Its span carries the GenAI
    /// attributes (model id, token counts), never messages.
    pub async fn complete(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        max_tokens: u32,
        deadline: Instant,
    ) -> Result<Completion, ModelError> {
        self.complete_streaming(messages, tools, max_tokens, deadline, None)
            .await
    }

    /// [`Self::complete`], passing each piece of text to `text` as the model writes it. Once a
    /// piece has been passed on, a failure is not retried (the text would come twice).
    #[tracing::instrument(
        name = "chat",
        skip_all,
        fields(
            otel.name = %format!("chat {}", self.config.model_id),
            gen_ai.operation.name = "chat",
            gen_ai.request.model = %self.config.model_id,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    )]
    pub async fn complete_streaming(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        max_tokens: u32,
        deadline: Instant,
        text: Option<&mpsc::UnboundedSender<String>>,
    ) -> Result<Completion, ModelError> {
        let body = ChatRequest {
            model: &self.config.model_id,
            messages,
            tools,
            tool_choice: (!tools.is_empty()).then_some("auto"),
            max_tokens,
            stream: true,
            stream_options: Some(StreamOptions {
                include_usage: true,
            }),
        };
        let sink = TextSink {
            tx: text,
            passed: AtomicBool::new(false),
        };
        let result = self.complete_within(&body, deadline, &sink).await;
        let span = tracing::Span::current();
        match &result {
            Ok(c) => {
                if let Some(u) = &c.usage {
                    span.record("gen_ai.usage.input_tokens", u.prompt_tokens);
                    span.record("gen_ai.usage.output_tokens", u.completion_tokens);
                }
            }
            Err(e) => {
                span.record("error.type", e.code().as_str());
            }
        }
        result
    }

    async fn complete_within(
        &self,
        body: &ChatRequest<'_>,
        deadline: Instant,
        sink: &TextSink<'_>,
    ) -> Result<Completion, ModelError> {
        let mut attempt = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ModelError::Timeout);
            }
            let err = match self
                .attempt(body, remaining.min(self.config.attempt_timeout), sink)
                .await
            {
                Ok(c) => return Ok(c),
                Err(e) if !e.is_retryable() || sink.passed() => return Err(e),
                Err(e) => e,
            };
            let pause = self.backoff.delay(attempt);
            if attempt + 1 >= self.backoff.max_attempts || Instant::now() + pause >= deadline {
                return Err(err);
            }
            tracing::warn!(
                code = err.code().as_str(),
                attempt,
                "model call failed; retrying"
            );
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        body: &ChatRequest<'_>,
        timeout: Duration,
        sink: &TextSink<'_>,
    ) -> Result<Completion, ModelError> {
        let route = self.route.load(Ordering::Relaxed);
        match self.attempt_at(route, body, timeout, sink).await {
            Err(RouteOrModel::Route) if self.urls.len() > 1 => {
                let other = 1 - route.min(1);
                tracing::warn!(
                    refused = %self.urls[route],
                    using = %self.urls[other],
                    "the model endpoint refused this route for the model; using the other prefix"
                );
                self.route.store(other, Ordering::Relaxed);
                self.attempt_at(other, body, timeout, sink)
                    .await
                    .map_err(RouteOrModel::into_model)
            }
            result => result.map_err(RouteOrModel::into_model),
        }
    }

    async fn attempt_at(
        &self,
        route: usize,
        body: &ChatRequest<'_>,
        timeout: Duration,
        sink: &TextSink<'_>,
    ) -> Result<Completion, RouteOrModel> {
        let url = self.urls.get(route).unwrap_or(&self.urls[0]);
        let mut req = self.http.post(url).timeout(timeout).json(body);
        match (&self.config.auth, &self.keys) {
            (ModelAuth::None, _) => {}
            (ModelAuth::ApiKey(key), _) => req = req.bearer_auth(key),
            (ModelAuth::Role, Some(keys)) => {
                let key = keys.key().await.map_err(|e| {
                    tracing::error!(error = %e, "no short-term model key");
                    ModelError::NoCredentials
                })?;
                req = req.bearer_auth(key);
            }
            (ModelAuth::Role, None) => {
                tracing::error!("no role credentials were configured for the model endpoint");
                return Err(ModelError::NoCredentials.into());
            }
        }
        if let Some(project) = &self.config.project {
            req = req.header("OpenAI-Project", project);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                ModelError::Timeout
            } else {
                ModelError::Unavailable { status: None }
            }
        })?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => {}
            429 => return Err(ModelError::Throttled.into()),
            500..=599 => {
                return Err(ModelError::Unavailable {
                    status: Some(status),
                }
                .into());
            }
            _ => {
                // The body only says whether the route was refused; it is never logged.
                let body = read_capped(resp, MAX_ERROR_BYTES).await.unwrap_or_default();
                if route_refused(status, &body) {
                    return Err(RouteOrModel::Route);
                }
                return Err(ModelError::Refused { status }.into());
            }
        }
        let streamed = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !streamed {
            // A server that ignores `stream` answers with one completion: taken as it is.
            let body = read_capped(resp, MAX_REPLY_BYTES).await?;
            let completion = completion_from(&body)?;
            sink.pass(completion.text.clone().unwrap_or_default());
            return Ok(completion);
        }
        let mut stream = crate::model_stream::ChunkStream::new(MAX_REPLY_BYTES);
        let mut resp = resp;
        loop {
            match resp.chunk().await {
                Ok(Some(bytes)) => sink.pass(stream.push(&bytes)?),
                Ok(None) => {
                    let completion = stream.finish()?;
                    if completion.usage.is_none() {
                        // Cost attribution reads the usage; without it the turn counts no tokens.
                        tracing::warn!("the model's stream reported no token usage");
                    }
                    return Ok(completion);
                }
                Err(e) if e.is_timeout() => return Err(ModelError::Timeout.into()),
                Err(_) => return Err(ModelError::BadResponse.into()),
            }
        }
    }
}

/// Where a streamed completion's text goes as it arrives, and whether any went yet.
struct TextSink<'a> {
    tx: Option<&'a mpsc::UnboundedSender<String>>,
    passed: AtomicBool,
}

impl TextSink<'_> {
    fn pass(&self, text: String) {
        if let (Some(tx), false) = (self.tx, text.is_empty()) {
            self.passed.store(true, Ordering::Relaxed);
            let _ = tx.send(text);
        }
    }

    fn passed(&self) -> bool {
        self.passed.load(Ordering::Relaxed)
    }
}

/// The largest model reply read (the tier's output token cap is far below it: a reply past it
/// is not a completion we asked for).
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;
/// The largest error body read (only its route-refusal phrase is looked at).
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// The body, read as it arrives and refused (`BadResponse`) once it passes `max` bytes.
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, ModelError> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    return Err(ModelError::BadResponse);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(ModelError::Timeout),
            Err(_) => return Err(ModelError::BadResponse),
        }
    }
}

/// A refusal of the route (try the other prefix), or the model call's own failure.
enum RouteOrModel {
    Route,
    Model(ModelError),
}

impl RouteOrModel {
    fn into_model(self) -> ModelError {
        match self {
            RouteOrModel::Model(e) => e,
            RouteOrModel::Route => ModelError::Refused { status: 404 },
        }
    }
}

impl From<ModelError> for RouteOrModel {
    fn from(e: ModelError) -> Self {
        RouteOrModel::Model(e)
    }
}

/// The first choice of a Chat Completions reply. The endpoint is trusted for nothing: what it
/// says is text for the caller and tool calls the agent checks against the tier's tools.
pub(crate) fn completion_from(body: &[u8]) -> Result<Completion, ModelError> {
    let parsed: ChatResponse = serde_json::from_slice(body).map_err(|_| ModelError::BadResponse)?;
    let choice = parsed
        .choices
        .into_iter()
        .next()
        .ok_or(ModelError::BadResponse)?;
    Ok(Completion {
        text: choice.message.content.filter(|t| !t.is_empty()),
        tool_calls: choice.message.tool_calls,
        finish_reason: choice.finish_reason,
        usage: parsed.usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_with_unknown_fields_and_typeless_tool_calls_parse() {
        let reply = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,
            "message":{"role":"assistant","content":null,"reasoning_content":"thinking",
            "tool_calls":[{"id":"c1","function":{"name":"clinic_config","arguments":"{}"}}]},
            "finish_reason":"tool_calls","logprobs":null}],
            "usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"extra":{}}}"#;
        let parsed: ChatResponse = serde_json::from_str(reply).unwrap();
        let m = &parsed.choices[0].message;
        assert_eq!(m.tool_calls[0].kind, "function");
        assert_eq!(m.tool_calls[0].function.name, "clinic_config");
        assert_eq!(parsed.usage.unwrap().completion_tokens, 2);
    }

    #[test]
    fn the_other_route_prefix_is_the_mantle_one() {
        assert_eq!(
            alternate_base("https://bedrock-mantle.us-east-1.api.aws/v1").as_deref(),
            Some("https://bedrock-mantle.us-east-1.api.aws/openai/v1")
        );
        assert_eq!(
            alternate_base("https://bedrock-mantle.us-east-1.api.aws/openai/v1/").as_deref(),
            Some("https://bedrock-mantle.us-east-1.api.aws/v1")
        );
        assert_eq!(alternate_base("http://127.0.0.1:8000/api"), None);
        assert!(route_refused(404, b""));
        assert!(route_refused(400, b"model isn't supported on this route"));
        assert!(!route_refused(400, b"max_tokens is too large"));
        assert!(!route_refused(403, b"route"));
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        let b = Backoff::default();
        for attempt in 0..40 {
            assert!(b.delay(attempt) <= b.cap);
        }
        assert!(b.delay(0) <= b.base);
    }
}
