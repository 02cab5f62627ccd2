//! SigV4 with the process's own role, for the two calls that have no SDK client: OTLP trace
//! export to X-Ray, and Bedrock's OpenAI-compatible endpoint, which takes a short-term API key
//! (a presigned `CallWithBearerToken` URL) instead of a signature.
//!
//! Written over `aws-sigv4` (the SDK's own signer); only the credential cache and the key's
//! encoding are ours: AWS publishes token generators for Python, Java and JavaScript, none for
//! Rust.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use tokio::sync::Mutex;

/// Credentials are renewed this long before they expire, so a request signed with them does
/// not arrive after their end.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The longest a short-term Bedrock API key lives (AWS's limit: 12 hours).
pub const BEDROCK_KEY_MAX_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
const BEDROCK_KEY_HOST: &str = "bedrock.amazonaws.com";
const BEDROCK_KEY_PREFIX: &str = "bedrock-api-key-";

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("no AWS credentials for signing: {0}")]
    Credentials(String),
    #[error("the request could not be signed: {0}")]
    Sign(String),
}

/// The process's credentials (the SDK's default chain: the runtime's or function's role),
/// fetched once and kept until shortly before they expire.
#[derive(Debug, Clone)]
pub struct RoleCredentials {
    provider: SharedCredentialsProvider,
    region: String,
    cached: Arc<Mutex<Option<Credentials>>>,
}

fn fresh(creds: &Credentials, now: SystemTime) -> bool {
    creds.expiry().is_none_or(|end| {
        end.duration_since(now)
            .is_ok_and(|left| left > RENEW_BEFORE)
    })
}

impl RoleCredentials {
    pub fn new(provider: SharedCredentialsProvider, region: impl Into<String>) -> Self {
        Self {
            provider,
            region: region.into(),
            cached: Arc::new(Mutex::new(None)),
        }
    }

    /// The same credentials (and cache) for signing in another region.
    pub fn for_region(&self, region: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            ..self.clone()
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub async fn credentials(&self) -> Result<Credentials, SigningError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| fresh(c, SystemTime::now())) {
            return Ok(c.clone());
        }
        let creds = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| SigningError::Credentials(e.to_string()))?;
        *cached = Some(creds.clone());
        Ok(creds)
    }

    /// Signs `req` in place (headers, body hashed) for `service` in this region.
    pub async fn sign<B: AsRef<[u8]>>(
        &self,
        service: &str,
        req: &mut http::Request<B>,
    ) -> Result<(), SigningError> {
        let creds = self.credentials().await?;
        sign_request(&creds, &self.region, service, SystemTime::now(), req)
    }
}

/// The SigV4 headers (`authorization`, `x-amz-date`, and `x-amz-security-token` with
/// temporary credentials) for a request that a library sends for us: `headers` are the ones
/// signed (at least `host`), and the caller adds the returned ones to the request unchanged.
/// Used where the HTTP client is another crate's (the MCP transport), so the request cannot
/// be handed to [`sign_request`].
pub fn signature_headers(
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    request: &UnsignedRequest<'_>,
) -> Result<Vec<(String, String)>, SigningError> {
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.uri,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| SigningError::Sign(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// A request as [`signature_headers`] signs it.
#[derive(Debug, Clone, Copy)]
pub struct UnsignedRequest<'a> {
    pub method: &'a str,
    /// The full URL (scheme, host, path and query).
    pub uri: &'a str,
    /// The headers to sign; `host` among them.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl RoleCredentials {
    /// [`signature_headers`] with this role's credentials, now.
    pub async fn signature_headers(
        &self,
        service: &str,
        request: &UnsignedRequest<'_>,
    ) -> Result<Vec<(String, String)>, SigningError> {
        let creds = self.credentials().await?;
        signature_headers(&creds, &self.region, service, SystemTime::now(), request)
    }
}

/// Signs `req` with `creds` at `time` (headers; the body is hashed into the signature).
pub fn sign_request<B: AsRef<[u8]>>(
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    req: &mut http::Request<B>,
) -> Result<(), SigningError> {
    let uri = req.uri().to_string();
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let signature = signature_headers(
        creds,
        region,
        service,
        time,
        &UnsignedRequest {
            method: req.method().as_str(),
            uri: &uri,
            headers: &headers,
            body: req.body().as_ref(),
        },
    )?;
    for (name, value) in signature {
        let name =
            http::HeaderName::try_from(name).map_err(|e| SigningError::Sign(e.to_string()))?;
        let value =
            http::HeaderValue::try_from(value).map_err(|e| SigningError::Sign(e.to_string()))?;
        req.headers_mut().insert(name, value);
    }
    Ok(())
}

/// The `Host` header an HTTP client sends for `uri` (the port only when it is not the
/// scheme's default): what a signature over a request another library sends must name.
pub fn host_of(uri: &str) -> Option<String> {
    let uri: http::Uri = uri.parse().ok()?;
    let host = uri.host()?;
    let default = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    Some(match uri.port_u16() {
        Some(port) if Some(port) != default => format!("{host}:{port}"),
        _ => host.to_owned(),
    })
}

/// A short-term Bedrock API key and when it stops working.
#[derive(Clone)]
pub struct BedrockKey {
    pub key: String,
    pub expires: SystemTime,
}

impl std::fmt::Debug for BedrockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a bearer credential: never in a log.
        f.debug_struct("BedrockKey")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Mints the short-term Bedrock API key AWS's token generators make: a SigV4 query-presigned
/// `POST https://bedrock.amazonaws.com/?Action=CallWithBearerToken` (service `bedrock`; the
/// method is part of the signature), without its scheme, with `&Version=1` appended,
/// base64-encoded and prefixed `bedrock-api-key-`. Equal byte for byte to AWS's
/// `aws-bedrock-token-generator` for the same credentials, Region, lifetime and time
/// (`dev/aws-conformance/tests/sigv4.rs`). It lives `lifetime`, at most 12 hours and never
/// past the credentials' own expiry.
pub fn bedrock_short_term_key(
    creds: &Credentials,
    region: &str,
    time: SystemTime,
    lifetime: Duration,
) -> Result<BedrockKey, SigningError> {
    let mut lifetime = lifetime.min(BEDROCK_KEY_MAX_LIFETIME);
    if let Some(end) = creds.expiry() {
        let left = end
            .duration_since(time)
            .map_err(|_| SigningError::Credentials("the credentials have expired".into()))?;
        lifetime = lifetime.min(left);
    }
    // Whole seconds, as the query parameter carries them; at least one.
    let lifetime = Duration::from_secs(lifetime.as_secs().max(1));
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(lifetime);
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into();
    let url = format!("https://{BEDROCK_KEY_HOST}/?Action=CallWithBearerToken");
    let signable = SignableRequest::new(
        "POST",
        &url,
        std::iter::once(("host", BEDROCK_KEY_HOST)),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| SigningError::Sign(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| SigningError::Sign(e.to_string()))?
        .into_parts();
    // The query in the generators' order: the signature last (aws-sigv4 puts the session
    // token after it; the key is the whole string, so the order is part of it).
    let mut query = vec![("Action", "CallWithBearerToken".to_owned())];
    let mut signature = None;
    for (name, value) in instructions.params() {
        let encoded = percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string();
        if *name == "X-Amz-Signature" {
            signature = Some(encoded);
        } else {
            query.push((name, encoded));
        }
    }
    let signature =
        signature.ok_or_else(|| SigningError::Sign("the signer gave no signature".into()))?;
    query.push(("X-Amz-Signature", signature));
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let presigned = format!("{BEDROCK_KEY_HOST}/?{}&Version=1", query.join("&"));
    let encoded = base64::engine::general_purpose::STANDARD.encode(presigned.as_bytes());
    Ok(BedrockKey {
        key: format!("{BEDROCK_KEY_PREFIX}{encoded}"),
        expires: time + lifetime,
    })
}

/// SigV4's query encoding: everything but RFC 3986's unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Short-term Bedrock API keys from the role, minted when needed and reused until shortly
/// before they expire.
#[derive(Debug, Clone)]
pub struct BedrockKeys {
    role: RoleCredentials,
    current: Arc<Mutex<Option<BedrockKey>>>,
}

impl BedrockKeys {
    pub fn new(role: RoleCredentials) -> Self {
        Self {
            role,
            current: Arc::new(Mutex::new(None)),
        }
    }

    pub async fn key(&self) -> Result<String, SigningError> {
        let mut current = self.current.lock().await;
        let now = SystemTime::now();
        if let Some(k) = current.as_ref().filter(|k| {
            k.expires
                .duration_since(now)
                .is_ok_and(|left| left > RENEW_BEFORE)
        }) {
            return Ok(k.key.clone());
        }
        let creds = self.role.credentials().await?;
        let key =
            bedrock_short_term_key(&creds, self.role.region(), now, BEDROCK_KEY_MAX_LIFETIME)?;
        tracing::debug!(expires = ?key.expires, "minted a short-term Bedrock API key");
        let value = key.key.clone();
        *current = Some(key);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn creds(expiry: Option<SystemTime>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
            expiry,
            "test",
        )
    }

    fn decode(key: &str) -> (String, HashMap<String, String>) {
        let b64 = key.strip_prefix(BEDROCK_KEY_PREFIX).expect("prefix");
        let url = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        let (host_path, query) = url.split_once('?').unwrap();
        let params = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        (host_path.to_owned(), params)
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_host_is_what_a_client_sends() {
        assert_eq!(
            host_of("http://127.0.0.1:9/mcp").as_deref(),
            Some("127.0.0.1:9")
        );
        assert_eq!(
            host_of("https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/a%3Ab/invocations?qualifier=DEFAULT")
                .as_deref(),
            Some("bedrock-agentcore.us-east-1.amazonaws.com")
        );
        assert_eq!(
            host_of("https://example.com:443/x").as_deref(),
            Some("example.com")
        );
        assert_eq!(host_of("not a url"), None);
    }

    #[test]
    fn the_key_is_a_presigned_call_with_bearer_token_url() {
        let t = at(1_767_225_600); // 2026-01-01T00:00:00Z
        let key = bedrock_short_term_key(&creds(None), "us-east-1", t, Duration::from_secs(43_200))
            .unwrap();
        let (host_path, q) = decode(&key.key);
        assert_eq!(host_path, "bedrock.amazonaws.com/");
        assert_eq!(q["Action"], "CallWithBearerToken");
        assert_eq!(q["Version"], "1");
        assert_eq!(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            q["X-Amz-Credential"],
            "AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fbedrock%2Faws4_request"
        );
        assert_eq!(q["X-Amz-Date"], "20260101T000000Z");
        assert_eq!(q["X-Amz-Expires"], "43200");
        assert_eq!(q["X-Amz-SignedHeaders"], "host");
        assert_eq!(q["X-Amz-Security-Token"], "session-token");
        assert_eq!(q["X-Amz-Signature"].len(), 64);
        // `Version` comes after the signature: it is not part of what was signed.
        let b64 = key.key.strip_prefix(BEDROCK_KEY_PREFIX).unwrap();
        let url = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert!(String::from_utf8(url).unwrap().ends_with("&Version=1"));
        assert_eq!(key.expires, t + Duration::from_secs(43_200));
    }

    #[test]
    fn the_signature_depends_on_the_secret_the_region_and_the_time() {
        let t = at(1_767_225_600);
        let sig = |c: &Credentials, region: &str, t| {
            let k = bedrock_short_term_key(c, region, t, Duration::from_secs(900)).unwrap();
            decode(&k.key).1["X-Amz-Signature"].clone()
        };
        let base = sig(&creds(None), "us-east-1", t);
        assert_eq!(base, sig(&creds(None), "us-east-1", t), "deterministic");
        let other_secret = Credentials::new(
            "AKIDEXAMPLE",
            "another",
            Some("session-token".into()),
            None,
            "t",
        );
        assert_ne!(base, sig(&other_secret, "us-east-1", t));
        assert_ne!(base, sig(&creds(None), "eu-west-1", t));
        assert_ne!(
            base,
            sig(&creds(None), "us-east-1", t + Duration::from_secs(1))
        );
    }

    #[test]
    fn the_key_never_outlives_its_credentials_or_twelve_hours() {
        let t = at(1_767_225_600);
        let key = bedrock_short_term_key(
            &creds(Some(t + Duration::from_secs(600))),
            "us-east-1",
            t,
            BEDROCK_KEY_MAX_LIFETIME,
        )
        .unwrap();
        assert_eq!(decode(&key.key).1["X-Amz-Expires"], "600");
        let key = bedrock_short_term_key(&creds(None), "us-east-1", t, Duration::from_secs(86_400))
            .unwrap();
        assert_eq!(decode(&key.key).1["X-Amz-Expires"], "43200");
        assert!(
            bedrock_short_term_key(
                &creds(Some(t - Duration::from_secs(1))),
                "us-east-1",
                t,
                BEDROCK_KEY_MAX_LIFETIME
            )
            .is_err(),
            "expired credentials mint nothing"
        );
    }

    /// A span export of `body`, signed for X-Ray at a fixed time.
    fn signed_export(body: &[u8]) -> http::Request<Vec<u8>> {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("https://xray.us-east-1.amazonaws.com/v1/traces")
            .header("content-type", "application/x-protobuf")
            .body(body.to_vec())
            .unwrap();
        sign_request(
            &creds(None),
            "us-east-1",
            "xray",
            at(1_767_225_600),
            &mut req,
        )
        .unwrap();
        req
    }

    #[test]
    fn a_signed_request_carries_the_signature_and_the_body_hash() {
        let req = signed_export(b"spans");
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/xray/aws4_request"
        ));
        assert!(auth.contains("content-type"), "{auth}");
        assert_eq!(req.headers()["x-amz-security-token"], "session-token");
        let other = signed_export(b"other");
        assert_ne!(
            req.headers()["authorization"],
            other.headers()["authorization"]
        );
    }

    #[test]
    fn a_key_does_not_show_in_debug_output() {
        let key = bedrock_short_term_key(
            &creds(None),
            "us-east-1",
            at(1_767_225_600),
            Duration::from_secs(900),
        )
        .unwrap();
        assert!(!format!("{key:?}").contains(BEDROCK_KEY_PREFIX));
    }
}
