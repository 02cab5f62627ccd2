//! Header names that cross a hop. Compared case-insensitively on read (HTTP), written in the
//! spelling below.

/// The caller's ID token, for the tool target to verify (the Gateway itself authorizes the
/// agent's SigV4 signature, not the user).
pub const ID_TOKEN: &str = "X-Id-Token";
/// Tenant headers, derived from a verified identity and cross-checked against it on every hop.
pub const TIER: &str = "X-Tier";
pub const CLINIC_ID: &str = "X-Clinic-ID";
pub const S3_PREFIX: &str = "X-S3-Prefix";
/// The runtime session's short hash (never the raw id), from the agent to the tool target, so
/// that both sides' audit events of one conversation carry the same session. A correlation aid
/// the agent asserts (its requests are signed with the runtime's role), not an identity: the
/// tool target checks only its form.
pub const SESSION_HASH: &str = "X-Session-Hash";

/// The request headers the Gateway target allow-lists (`MetadataConfiguration.
/// AllowedRequestHeaders`, at most 10) and passes to the tool target in the client context.
pub const PROPAGATED: [&str; 5] = [ID_TOKEN, TIER, CLINIC_ID, S3_PREFIX, SESSION_HASH];

/// The tenant headers only (what a verified context derives), in [`PROPAGATED`]'s order.
pub const TENANT: [&str; 3] = [TIER, CLINIC_ID, S3_PREFIX];

/// The caller's ID token on InvokeAgentRuntime, for the agent to verify: a custom header
/// (the runtime's `RequestHeaderAllowlist` passes it on; at most 4 KB), because on IAM inbound
/// auth `Authorization` carries the proxy's SigV4 signature.
pub const RUNTIME_ID_TOKEN: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Id-Token";
/// InvokeAgentRuntime's session id, as the Runtime hands it to the container.
pub const RUNTIME_SESSION_ID: &str = "x-amzn-bedrock-agentcore-runtime-session-id";
/// InvokeAgentRuntime's request id, as the Runtime hands it to the container.
pub const RUNTIME_REQUEST_ID: &str = "x-amzn-bedrock-agentcore-runtime-request-id";
/// The session id the proxy issued (or accepted back), on its answer to the caller.
pub const PROXY_SESSION_ID: &str = "x-tenantry-session-id";

/// A header that must not repeat appeared more than once: two layers could each read a
/// different value of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the header `{0}` appears more than once (send exactly one)")]
pub struct Repeated(pub &'static str);

/// The one value of `name` in `headers` (`None` when absent), refusing a repeated header.
pub fn at_most_one<'a>(
    headers: &'a http::HeaderMap,
    name: &'static str,
) -> Result<Option<&'a http::HeaderValue>, Repeated> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    match values.next() {
        Some(_) => Err(Repeated(name)),
        None => Ok(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_valid_header_name_and_the_allow_list_is_within_the_gateway_limit() {
        for name in PROPAGATED.iter().chain(&[
            RUNTIME_ID_TOKEN,
            RUNTIME_SESSION_ID,
            RUNTIME_REQUEST_ID,
            PROXY_SESSION_ID,
        ]) {
            assert!(http::HeaderName::try_from(*name).is_ok(), "{name}");
        }
        assert!(PROPAGATED.len() <= 10);
        assert_eq!(&PROPAGATED[1..4], &TENANT);
    }

    #[test]
    fn a_repeated_header_is_refused_and_an_absent_one_is_none() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(at_most_one(&headers, RUNTIME_SESSION_ID), Ok(None));
        headers.append(RUNTIME_SESSION_ID, http::HeaderValue::from_static("a"));
        assert_eq!(
            at_most_one(&headers, RUNTIME_SESSION_ID).map(|v| v.map(|v| v.as_bytes().to_vec())),
            Ok(Some(b"a".to_vec()))
        );
        headers.append(RUNTIME_SESSION_ID, http::HeaderValue::from_static("a"));
        assert_eq!(
            at_most_one(&headers, RUNTIME_SESSION_ID),
            Err(Repeated(RUNTIME_SESSION_ID))
        );
    }
}
