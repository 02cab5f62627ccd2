//! The bodies of an invocation: what a caller sends the proxy, and what the proxy sends the
//! agent. Tenant, tier, user and role are never in a body: they come from the token only, and
//! a body that names any of them is refused, not ignored (`deny_unknown_fields`).

use serde::{Deserialize, Serialize};

/// `POST /invoke` on the API: the prompt, and the session id of a conversation to continue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyRequest {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// `POST /invocations` on the agent (the session id travels in
/// [`crate::headers::RUNTIME_SESSION_ID`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationBody {
    pub prompt: String,
}

/// Why a body was refused, without any of its values: serde's messages quote them
/// (`invalid type: integer `123``), and a body can hold patient data.
pub fn describe_refusal(e: &serde_json::Error, expected: &str) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => {
            format!("not valid JSON (line {}, column {})", e.line(), e.column())
        }
        _ => format!("expected {expected} and nothing else"),
    }
}

/// What a [`ProxyRequest`] looks like, for refusals.
pub const PROXY_REQUEST_SHAPE: &str = r#"{"prompt": string, "session_id"?: string}"#;
/// What an [`InvocationBody`] looks like, for refusals.
pub const INVOCATION_BODY_SHAPE: &str = r#"{"prompt": string}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_names_a_tenant_is_refused() {
        for extra in ["clinic_id", "tier", "user_id", "role"] {
            let body = format!(r#"{{"prompt":"hi","{extra}":"x"}}"#);
            assert!(
                serde_json::from_str::<ProxyRequest>(&body).is_err(),
                "{extra}"
            );
            assert!(
                serde_json::from_str::<InvocationBody>(&body).is_err(),
                "{extra}"
            );
        }
        // The session id belongs to the proxy's body only.
        let with_session = r#"{"prompt":"hi","session_id":"s"}"#;
        assert!(serde_json::from_str::<ProxyRequest>(with_session).is_ok());
        assert!(serde_json::from_str::<InvocationBody>(with_session).is_err());
    }

    #[test]
    fn a_refusal_quotes_no_value() {
        for bad in [
            r#"{"prompt": 123456789}"#,
            r#"{"prompt":"x","p123456789":1}"#,
        ] {
            let e = serde_json::from_str::<ProxyRequest>(bad).unwrap_err();
            let m = describe_refusal(&e, PROXY_REQUEST_SHAPE);
            assert!(!m.contains("123456789"), "{m}");
        }
    }
}
