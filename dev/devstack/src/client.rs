//! A client of the API, as a clinician's app would be: the ID token as `Authorization`, a
//! prompt, and the session id the API returned to continue a conversation.

use contracts::ProxyRequest;
use serde_json::Value;

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
        .header("Authorization", contracts::bearer::authorization(token))
        .send()
        .await
        .map_err(|e| StackError::Setup {
            what: format!("GET {usage_url}: {e}"),
        })?;
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// One question to the API: where, as whom, what, in which conversation, and any headers sent
/// along (e.g. forged tenant headers, which must change nothing).
#[derive(Clone, Copy)]
pub struct Question<'a> {
    pub invoke_url: &'a str,
    pub token: &'a str,
    pub prompt: &'a str,
    /// Continues this conversation (the `X-Tenantry-Session-Id` of an earlier answer).
    pub session: Option<&'a str>,
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> Question<'a> {
    /// `prompt` to `invoke_url` as the holder of `token`, with no extra headers.
    pub fn new(
        invoke_url: &'a str,
        token: &'a str,
        prompt: &'a str,
        session: Option<&'a str>,
    ) -> Self {
        Self {
            invoke_url,
            token,
            prompt,
            session,
            headers: &[],
        }
    }
}

/// One question to the API at `invoke_url` with `token`; `session` continues a conversation;
/// `headers` are sent along.
pub async fn ask(
    http: &reqwest::Client,
    invoke_url: &str,
    token: &str,
    prompt: &str,
    session: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Answer, StackError> {
    let question = Question::new(invoke_url, token, prompt, session);
    ask_streaming(
        http,
        Question {
            headers,
            ..question
        },
        &mut |_| {},
    )
    .await
}

/// `ask`, handing each event of a streamed answer (`{"type": "tool_start" | ...}`) to
/// `on_event` as it arrives.
pub async fn ask_streaming(
    http: &reqwest::Client,
    q: Question<'_>,
    on_event: &mut (dyn FnMut(&Value) + Send),
) -> Result<Answer, StackError> {
    let invoke_url = q.invoke_url;
    let body = ProxyRequest {
        prompt: q.prompt.to_owned(),
        session_id: q.session.map(str::to_owned),
    };
    let mut req = http
        .post(invoke_url)
        .header("Authorization", contracts::bearer::authorization(q.token))
        .json(&body);
    for (k, v) in q.headers {
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
    let question = Question::new(invoke_url, token, prompt, session);
    ask_patiently_streaming(http, question, &mut |_| {}).await
}

/// `ask_patiently`, handing each streamed event to `on_event` as it arrives.
pub async fn ask_patiently_streaming(
    http: &reqwest::Client,
    question: Question<'_>,
    on_event: &mut (dyn FnMut(&Value) + Send),
) -> Result<Answer, StackError> {
    let mut attempt = 0;
    loop {
        let a = ask_streaming(http, question, on_event).await?;
        let throttled =
            a.status == 429 && a.gateway_error.as_deref() == Some("TooManyRequestsException");
        if !throttled || attempt == 3 {
            return Ok(a);
        }
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
