//! The LOCAL EMULATION of Amazon Bedrock `ApplyGuardrail`
//! (`POST /guardrail/{id}/version/{version}/apply`), reached by the real
//! `aws-sdk-bedrockruntime` client through endpoint configuration. It is NOT Bedrock's
//! classifier: it applies two fixed, deterministic rules, enough to exercise every path of
//! the agent's handling:
//!
//! - on INPUT, a prompt containing one of `BLOCKED_PHRASES` is blocked with `BLOCKED_MESSAGE`;
//! - on INPUT, text containing one of `PROMPT_ATTACK_PHRASES` is blocked with
//!   `BLOCKED_MESSAGE`, as the prompt-attack filter (input only, on AWS) does with instruction
//!   overrides (the agent screens document and web text this way);
//! - on OUTPUT, text containing one of `BLOCKED_PHRASES` is blocked with `BLOCKED_MESSAGE` (a
//!   content filter reads both sides);
//! - on OUTPUT, text shaped like a US social security number (`ddd-dd-dddd`) is masked as
//!   `{US_SOCIAL_SECURITY_NUMBER}`, as a sensitive-information filter in ANONYMIZE mode does.
//!
//! Anything else passes (`action: NONE`). Unknown guardrails or versions answer
//! `ResourceNotFoundException`.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub const BLOCKED_PHRASES: [&str; 2] = ["make a weapon", "build a bomb"];
/// Instruction overrides, the shape of the prompt attacks AWS's filter is trained on.
pub const PROMPT_ATTACK_PHRASES: [&str; 3] = [
    "ignore previous instructions",
    "ignore all previous instructions",
    "disregard your instructions",
];
pub const BLOCKED_MESSAGE: &str =
    "[guardrail] This request is outside what the clinic's assistant may help with.";
pub const SSN_MASK: &str = "{US_SOCIAL_SECURITY_NUMBER}";

/// The local guardrail's id and version, in AWS's form (`[a-z0-9]+`, the service model's
/// pattern for a guardrail identifier).
pub const LOCAL_GUARDRAIL_ID: &str = "localstandin";
pub const LOCAL_GUARDRAIL_VERSION: &str = "1";

/// A call, for tests: source (INPUT/OUTPUT) and whether the emulation intervened.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailCall {
    pub source: String,
    pub intervened: bool,
    /// The text the call was asked to check.
    pub text: String,
}

/// The emulation's state, shared by its handlers.
pub struct Inner {
    id: String,
    version: String,
    calls: Mutex<Vec<GuardrailCall>>,
    /// OUTPUT checks wait while this is `true` (tests: checks in flight at once).
    hold_output: tokio::sync::watch::Sender<bool>,
    /// OUTPUT checks arrived and not yet answered.
    output_in_flight: std::sync::atomic::AtomicUsize,
}

pub type GuardrailEmulation = crate::aws_model::layer::Served<Inner>;

/// `ddd-dd-dddd` replaced by the mask; `None` when there was none.
fn mask_ssn(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let shape = |i: usize| {
        i + 11 <= b.len()
            && (0..11).all(|k| match k {
                3 | 6 => b[i + k] == b'-',
                _ => b[i + k].is_ascii_digit(),
            })
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && (i + 11 == b.len() || !b[i + 11].is_ascii_alphanumeric())
    };
    let mut out = String::with_capacity(text.len());
    let (mut i, mut found) = (0, false);
    while i < b.len() {
        if shape(i) {
            out.push_str(SSN_MASK);
            i += 11;
            found = true;
        } else {
            // Copy one UTF-8 character.
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    found.then_some(out)
}

impl GuardrailEmulation {
    pub async fn start(id: &str, version: &str, port: u16) -> std::io::Result<Self> {
        let inner = Inner {
            id: id.to_owned(),
            version: version.to_owned(),
            calls: Mutex::new(Vec::new()),
            hold_output: tokio::sync::watch::Sender::new(false),
            output_in_flight: std::sync::atomic::AtomicUsize::new(0),
        };
        let app = axum::Router::new().route("/guardrail/{id}/version/{version}/apply", post(apply));
        Self::serve(app, inner, "bedrock-runtime", &["ApplyGuardrail"], port).await
    }

    /// Holds every OUTPUT check (`true`) until released (`false`).
    pub fn hold_output(&self, hold: bool) {
        self.state().hold_output.send_replace(hold);
    }

    /// OUTPUT checks that arrived and are not answered yet.
    pub fn output_in_flight(&self) -> usize {
        self.state()
            .output_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn calls(&self) -> Vec<GuardrailCall> {
        self.state()
            .calls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }
}

async fn apply(
    State(inner): State<Arc<Inner>>,
    Path((id, version)): Path<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if id != inner.id || version != inner.version {
        return crate::aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "guardrail not found",
        );
    }
    let source = body["source"].as_str().unwrap_or_default().to_owned();
    let text: String = body["content"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b["text"]["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    if source == "OUTPUT" {
        use std::sync::atomic::Ordering::SeqCst;
        inner.output_in_flight.fetch_add(1, SeqCst);
        let _ = inner.hold_output.subscribe().wait_for(|held| !held).await;
        inner.output_in_flight.fetch_sub(1, SeqCst);
    }
    let lower = text.to_lowercase();
    let output = match source.as_str() {
        "INPUT"
            if BLOCKED_PHRASES
                .iter()
                .chain(&PROMPT_ATTACK_PHRASES)
                .any(|p| lower.contains(p)) =>
        {
            Some(BLOCKED_MESSAGE.to_owned())
        }
        "OUTPUT" if BLOCKED_PHRASES.iter().any(|p| lower.contains(p)) => {
            Some(BLOCKED_MESSAGE.to_owned())
        }
        "OUTPUT" => mask_ssn(&text),
        _ => None,
    };
    if let Ok(mut c) = inner.calls.lock() {
        c.push(GuardrailCall {
            source,
            intervened: output.is_some(),
            text: text.clone(),
        });
    }
    let usage = json!({
        "topicPolicyUnits": 0, "contentPolicyUnits": 1, "wordPolicyUnits": 0,
        "sensitiveInformationPolicyUnits": 1, "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": 0
    });
    let reply = match output {
        Some(t) => json!({
            "usage": usage, "action": "GUARDRAIL_INTERVENED",
            "outputs": [{"text": t}], "assessments": [{}]
        }),
        None => json!({"usage": usage, "action": "NONE", "outputs": [], "assessments": []}),
    };
    axum::Json(reply).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssn_shapes_are_masked() {
        assert_eq!(
            mask_ssn("id 123-45-6789, ok").as_deref(),
            Some("id {US_SOCIAL_SECURITY_NUMBER}, ok")
        );
        assert_eq!(mask_ssn("p-5001 on 2026-11-22"), None);
        assert_eq!(mask_ssn("x1123-45-6789"), None);
    }
}
