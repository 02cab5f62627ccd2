//! A client of the API, as a clinician's app would be: the ID token as `Authorization`, a
//! prompt, and the session id the API returned to continue a conversation.

use serde_json::{Value, json};

use crate::StackError;

/// What came back from `POST /invoke`.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The agent's reply (JSON, or its events folded into the same shape), or the refusal body
    /// of whichever layer refused.
    pub body: Value,
    /// The runtime session id request-proxy issued or kept (`X-Tenantry-Session-Id`).
    pub session: Option<String>,
    /// API Gateway's error type when API Gateway itself refused (`x-amzn-ErrorType`).
    pub gateway_error: Option<String>,
}

/// `GET /usage` at `usage_url` with `token`: (status, body). The clinic's day: remaining
/// requests for everyone, and usage rows for roles that see them.
pub async fn usage(
    http: &reqwest::Client,
    usage_url: &str,
    token: &str,
) -> Result<(u16, Value), StackError> {
    let resp = http
        .get(usage_url)
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .map_err(|e| StackError::Setup {
            what: format!("GET {usage_url}: {e}"),
        })?;
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// One question to the API at `invoke_url` with `token`; `session` continues a conversation;
/// `headers` are sent along (e.g. forged tenant headers, which must change nothing).
pub async fn ask(
    http: &reqwest::Client,
    invoke_url: &str,
    token: &str,
    prompt: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Answer, StackError> {
    ask_streaming(
        http,
        invoke_url,
        token,
        prompt,
        session,
        headers,
        &mut |_| {},
    )
    .await
}

/// `ask`, handing each event of a streamed answer (`{"type": "tool_start" | ...}`) to
/// `on_event` as it arrives.
pub async fn ask_streaming(
    http: &reqwest::Client,
    invoke_url: &str,
    token: &str,
    prompt: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
    on_event: &mut (dyn FnMut(&Value) + Send),
) -> Result<Answer, StackError> {
    let mut body = json!({ "prompt": prompt });
    if let Some(id) = session {
        body["session_id"] = id.into();
    }
    let mut req = http
        .post(invoke_url)
        .header("Authorization", format!("Bearer {token}"))
        .json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let failed = |e: reqwest::Error| StackError::Setup {
        what: format!("POST {invoke_url}: {e} (is the devstack up? scripts/devstack.sh status)"),
    };
    let mut resp = req.send().await.map_err(failed)?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let session = header(contracts::headers::PROXY_SESSION_ID);
    let gateway_error = header("x-amzn-errortype");
    let mut text = String::new();
    let mut pending = String::new();
    while let Some(chunk) = resp.chunk().await.map_err(failed)? {
        let part = String::from_utf8_lossy(&chunk);
        text.push_str(&part);
        pending.push_str(&part);
        // Server-Sent Events: frames end with a blank line.
        while let Some(end) = pending.find("\n\n") {
            let frame: String = pending.drain(..end + 2).collect();
            if let Some(event) = frame
                .strip_prefix("data: ")
                .and_then(|d| serde_json::from_str::<Value>(d.trim()).ok())
            {
                on_event(&event);
            }
        }
    }
    Ok(Answer {
        status,
        body: crate::reply::agent_reply(&text),
        session,
        gateway_error,
    })
}

/// `ask`, waiting and retrying (up to 3 times, 1 s apart) when API Gateway throttles the
/// clinic (429 `TooManyRequestsException`), as a well-behaved client does; a used-up quota
/// (`LimitExceededException`) is not retried.
pub async fn ask_patiently(
    http: &reqwest::Client,
    invoke_url: &str,
    token: &str,
    prompt: &str,
    session: Option<&str>,
) -> Result<Answer, StackError> {
    ask_patiently_streaming(http, invoke_url, token, prompt, session, &mut |_| {}).await
}

/// `ask_patiently`, handing each streamed event to `on_event` as it arrives.
pub async fn ask_patiently_streaming(
    http: &reqwest::Client,
    invoke_url: &str,
    token: &str,
    prompt: &str,
    session: Option<&str>,
    on_event: &mut (dyn FnMut(&Value) + Send),
) -> Result<Answer, StackError> {
    let mut attempt = 0;
    loop {
        let a = ask_streaming(http, invoke_url, token, prompt, session, &[], on_event).await?;
        let throttled =
            a.status == 429 && a.gateway_error.as_deref() == Some("TooManyRequestsException");
        if !throttled || attempt == 3 {
            return Ok(a);
        }
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
