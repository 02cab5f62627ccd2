//! Header names that cross a hop. Compared case-insensitively on read (HTTP), written in the
//! spelling below.

/// The caller's ID token again, for the tool target (the Gateway's authorizer consumes the
/// `Authorization` header; the target verifies the token itself).
pub const ID_TOKEN: &str = "X-Id-Token";
/// Tenant headers, derived from a verified identity and cross-checked against it on every hop.
pub const TIER: &str = "X-Tier";
pub const CLINIC_ID: &str = "X-Clinic-ID";
pub const S3_PREFIX: &str = "X-S3-Prefix";

/// The request headers the Gateway target allow-lists (`MetadataConfiguration.
/// AllowedRequestHeaders`, at most 10) and passes to the tool target in the client context.
pub const PROPAGATED: [&str; 4] = [ID_TOKEN, TIER, CLINIC_ID, S3_PREFIX];

/// The tenant headers only (what a verified context derives), in [`PROPAGATED`]'s order.
pub const TENANT: [&str; 3] = [TIER, CLINIC_ID, S3_PREFIX];

/// InvokeAgentRuntime's session id, as the Runtime hands it to the container.
pub const RUNTIME_SESSION_ID: &str = "x-amzn-bedrock-agentcore-runtime-session-id";
/// InvokeAgentRuntime's request id, as the Runtime hands it to the container.
pub const RUNTIME_REQUEST_ID: &str = "x-amzn-bedrock-agentcore-runtime-request-id";
/// The session id the proxy issued (or accepted back), on its answer to the caller.
pub const PROXY_SESSION_ID: &str = "x-tenantry-session-id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_valid_header_name_and_the_allow_list_is_within_the_gateway_limit() {
        for name in
            PROPAGATED
                .iter()
                .chain(&[RUNTIME_SESSION_ID, RUNTIME_REQUEST_ID, PROXY_SESSION_ID])
        {
            assert!(http::HeaderName::try_from(*name).is_ok(), "{name}");
        }
        assert!(PROPAGATED.len() <= 10);
        assert_eq!(&PROPAGATED[1..], &TENANT);
    }
}
