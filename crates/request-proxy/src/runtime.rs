//! The call to the tier's AgentCore Runtime: InvokeAgentRuntime, i.e. POST
//! `/runtimes/{url-encoded ARN}/invocations?qualifier=DEFAULT`, signed with SigV4 by this
//! function's role (the runtimes are on IAM inbound auth, and only this role may invoke them),
//! with the caller's ID token in the allow-listed custom header for the agent to verify.
//! No user credential opens a runtime. Written over reqwest rather than the
//! bedrock-agentcore SDK client because the answer is streamed through as it arrives and the
//! SDK would add a large crate for one call.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use request_signing::{RoleCredentials, UnsignedRequest};
use tenant_context::RuntimeSessionId;

use crate::error::ProxyError;

use contracts::headers::{RUNTIME_ID_TOKEN, RUNTIME_SESSION_ID as SESSION_HEADER};
pub const ACCEPT: &str = "text/event-stream, application/json";
/// SigV4's service name for InvokeAgentRuntime.
pub const SIGNING_SERVICE: &str = "bedrock-agentcore";

/// The HTTP client and the role that signs for it.
#[derive(Debug, Clone)]
pub struct RuntimeClient {
    pub http: reqwest::Client,
    pub role: RoleCredentials,
}

impl RuntimeClient {
    /// Signing with fixed credentials (tests, fuzzing and the benchmarks' local stand-ins).
    pub fn with_static_keys(
        http: reqwest::Client,
        access_key: &str,
        secret: &str,
        region: &str,
    ) -> Self {
        let creds =
            aws_credential_types::Credentials::new(access_key, secret, None, None, "static");
        Self {
            http,
            role: RoleCredentials::new(
                aws_credential_types::provider::SharedCredentialsProvider::new(creds),
                region,
            ),
        }
    }
}

/// What the AWS SDKs leave unescaped in a URI label (`{agentRuntimeArn}`): RFC 3986's
/// unreserved characters; everything else, `:` and `/` included, is percent-encoded.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The invocation URL for a runtime ARN.
pub fn invocation_url(endpoint: &str, runtime_arn: &str) -> String {
    format!(
        "{endpoint}/runtimes/{}/invocations?qualifier=DEFAULT",
        utf8_percent_encode(runtime_arn, LABEL)
    )
}

/// The runtime's answer, buffered up to `max_bytes`.
pub struct RuntimeReply {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The runtime's answer as it arrives (streaming mode).
pub struct RuntimeStream {
    pub content_type: String,
    pub body: reqwest::Response,
}

/// The runtime's answer as a stream of bytes, for Lambda response streaming: the call, checked
/// for success, the body not read yet. Its length is bounded by the agent's own caps (tokens
/// per request) and the proxy's timeout.
pub async fn invoke_streaming(
    client: &RuntimeClient,
    url: &str,
    id_token: &str,
    session: &RuntimeSessionId,
    body: Vec<u8>,
) -> Result<RuntimeStream, ProxyError> {
    let host = request_signing::host_of(url).ok_or(ProxyError::RuntimeFailed)?;
    // Every header we send is signed: the ID token and the session id cannot be swapped
    // between the signature and the Runtime.
    let headers = [
        ("host", host.as_str()),
        (RUNTIME_ID_TOKEN, id_token),
        (SESSION_HEADER, session.as_str()),
        ("accept", ACCEPT),
        ("content-type", "application/json"),
    ];
    let signature = client
        .role
        .signature_headers(
            SIGNING_SERVICE,
            &UnsignedRequest {
                method: "POST",
                uri: url,
                headers: &headers,
                body: &body,
            },
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "InvokeAgentRuntime could not be signed");
            ProxyError::RuntimeFailed
        })?;
    let mut req = client.http.post(url);
    for (name, value) in headers.iter().skip(1) {
        req = req.header(*name, *value);
    }
    for (name, value) in &signature {
        req = req.header(name.as_str(), value.as_str());
    }
    let resp = req.body(body).send().await.map_err(|e| {
        if e.is_timeout() {
            ProxyError::RuntimeTimeout
        } else {
            tracing::error!(error = %e, "agent runtime unreachable");
            ProxyError::RuntimeFailed
        }
    })?;
    let status = resp.status();
    match status.as_u16() {
        200..=299 => {}
        401 => return Err(ProxyError::RuntimeUnauthorized),
        403 => return Err(ProxyError::RuntimeForbidden),
        // The agent's own refusals before a stream come back as its JSON error; whether
        // AgentCore passes a container's 429 on as 429 or wraps it (RuntimeClientError, 424)
        // is open, so the clinic's budget is recognised by its code in either.
        429 | 424 => {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = resp.bytes().await.unwrap_or_default();
            if let Some(resets_at) = budget_refusal(&body) {
                return Err(ProxyError::BudgetExhausted {
                    resets_at,
                    retry_after,
                });
            }
            if status.as_u16() == 424 {
                tracing::error!(status = 424, "agent runtime answered with an error");
                return Err(ProxyError::RuntimeFailed);
            }
            return Err(ProxyError::RuntimeThrottled { retry_after });
        }
        _ => {
            tracing::error!(
                status = status.as_u16(),
                "agent runtime answered with an error"
            );
            return Err(ProxyError::RuntimeFailed);
        }
    }
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    Ok(RuntimeStream {
        content_type,
        body: resp,
    })
}

/// The reset time of the agent's `budget_exhausted` refusal, when `body` is one (also inside
/// a wrapping error's message, as a JSON string).
pub fn budget_refusal(body: &[u8]) -> Option<String> {
    let reply: contracts::agent_error::ErrorReply = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(_) => {
            let wrapped: serde_json::Value = serde_json::from_slice(body).ok()?;
            let inner = ["message", "Message"]
                .iter()
                .find_map(|k| wrapped.get(*k).and_then(|m| m.as_str()))?;
            serde_json::from_str(inner).ok()?
        }
    };
    (reply.error.code == contracts::AgentErrorCode::BudgetExhausted)
        .then(|| reply.error.resets_at.unwrap_or_default())
}

/// The runtime's answer, read whole (at most `max_bytes`).
pub async fn invoke(
    client: &RuntimeClient,
    url: &str,
    id_token: &str,
    session: &RuntimeSessionId,
    body: Vec<u8>,
    max_bytes: usize,
) -> Result<RuntimeReply, ProxyError> {
    let RuntimeStream {
        content_type,
        body: mut resp,
    } = invoke_streaming(client, url, id_token, session, body).await?;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        if e.is_timeout() {
            ProxyError::RuntimeTimeout
        } else {
            ProxyError::RuntimeFailed
        }
    })? {
        if body.len() + chunk.len() > max_bytes {
            return Err(ProxyError::ResponseTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RuntimeReply { content_type, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arn_is_one_encoded_path_segment() {
        let url = invocation_url(
            "https://bedrock-agentcore.us-east-1.amazonaws.com",
            "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/tenantry_basic-AbC123",
        );
        assert_eq!(
            url,
            "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Ftenantry_basic-AbC123/invocations?qualifier=DEFAULT"
        );
    }
}
