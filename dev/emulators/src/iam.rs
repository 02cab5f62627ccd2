//! LOCAL STAND-IN for what IAM does in front of the Runtime and Gateway emulations: a SigV4
//! signature checked against a small table of local principals (access key, secret, the role
//! ARN it stands for), and only the principals the template's policies grant let through.
//!
//! The check recomputes the signature with `aws-sigv4` (the SDK's own signer) over the
//! headers the request lists as signed, at the request's own `x-amz-date`, and compares the
//! whole `Authorization` value. Known differences from AWS: no policy evaluation (each
//! emulation is given the principals the template grants), no clock-skew header in the
//! error, and error bodies in this emulation's own shape.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use axum::http::{HeaderMap, Method, Uri};
use request_signing::{UnsignedRequest, signature_headers};

/// How far a request's `x-amz-date` may be from now (AWS answers "Signature expired"
/// beyond five minutes).
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// A local principal: what a process signs with, and the role it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPrincipal {
    pub access_key: String,
    pub secret: String,
    /// The role's ARN in the template's account (as IAM names the caller).
    pub arn: String,
}

impl LocalPrincipal {
    fn new(name: &str) -> Self {
        let key: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Self {
            access_key: format!("AKIALOCAL{key}"),
            secret: format!("local-secret-of-{name}"),
            arn: format!("arn:aws:sts::123456789012:assumed-role/tenantry-{name}-role/local"),
        }
    }

    /// request-proxy's role: the only one the template lets invoke the runtimes.
    pub fn request_proxy() -> Self {
        Self::new("request-proxy")
    }

    /// `tier`'s runtime role: the only one the template lets invoke `tier`'s Gateway.
    pub fn runtime(tier: &str) -> Self {
        Self::new(&format!("{tier}-runtime"))
    }

    /// Someone else in the account (a test's intruder): signs correctly, is granted nothing.
    pub fn other() -> Self {
        Self::new("other")
    }

    /// The role's name (what the Cedar policies match in `principal.id`).
    pub fn role_name(&self) -> &str {
        self.arn.split('/').nth(1).unwrap_or_default()
    }

    /// The process environment that makes the AWS SDK sign as this principal.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
        ]
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new(&self.access_key, &self.secret, None, None, "local")
    }

    /// `headers` and this principal's SigV4 headers for `method url` with `body`, signed now
    /// for AgentCore in the stand-ins' Region (tests that call an emulation by hand).
    pub fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let host = request_signing::host_of(url).unwrap_or_default();
        let mut pairs: Vec<(&str, &str)> = vec![("host", host.as_str())];
        pairs.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let signature = signature_headers(
            &self.credentials(),
            testkit::STANDIN_REGION,
            "bedrock-agentcore",
            SystemTime::now(),
            &UnsignedRequest {
                method,
                uri: url,
                headers: &pairs,
                body,
            },
        )
        .unwrap_or_default();
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .chain(signature)
            .collect()
    }
}

/// Why a request was refused, as the service's error code says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Refusal {
    /// No SigV4 `Authorization` (e.g. a Bearer token): AWS answers 403 on an IAM resource.
    #[error("the request is not signed with SigV4")]
    MissingAuthenticationToken,
    #[error("the request signature does not match: {0}")]
    SignatureDoesNotMatch(&'static str),
    #[error("the signature has expired or is from the future")]
    SignatureExpired,
    #[error("the access key is not known: {0}")]
    UnrecognizedClient(String),
    /// Signed correctly by a principal the policy does not grant.
    #[error("{0} is not authorized to perform this action")]
    AccessDenied(String),
}

impl SigV4Refusal {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::SignatureDoesNotMatch(_) => "InvalidSignatureException",
            Self::SignatureExpired => "InvalidSignatureException",
            Self::UnrecognizedClient(_) => "UnrecognizedClientException",
            Self::AccessDenied(_) => "AccessDeniedException",
        }
    }
}

/// The principals one resource's policy grants, with what the service signs as.
#[derive(Debug, Clone)]
pub struct SigV4Check {
    /// Every principal the stand-in knows (an unknown key is `UnrecognizedClient`).
    known: Vec<LocalPrincipal>,
    /// The ones allowed to call this resource.
    granted: Vec<String>,
    service: &'static str,
    region: String,
}

impl SigV4Check {
    /// `granted` may call; every tier's runtime, the proxy and `other` are known.
    pub fn new(
        service: &'static str,
        region: &str,
        granted: &[LocalPrincipal],
        tiers: &[&str],
    ) -> Self {
        let mut known = vec![LocalPrincipal::request_proxy(), LocalPrincipal::other()];
        known.extend(tiers.iter().map(|t| LocalPrincipal::runtime(t)));
        known.extend(granted.iter().cloned());
        Self {
            known,
            granted: granted.iter().map(|p| p.access_key.clone()).collect(),
            service,
            region: region.to_owned(),
        }
    }

    /// The calling principal, when the signature is valid and the policy grants it.
    pub fn check(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<LocalPrincipal, SigV4Refusal> {
        let sent = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with("AWS4-HMAC-SHA256 "))
            .ok_or(SigV4Refusal::MissingAuthenticationToken)?;
        let field = |name: &str| {
            sent.split([' ', ','])
                .find_map(|part| part.trim().strip_prefix(name))
                .map(str::to_owned)
        };
        let credential =
            field("Credential=").ok_or(SigV4Refusal::SignatureDoesNotMatch("no Credential"))?;
        let signed_names = field("SignedHeaders=")
            .ok_or(SigV4Refusal::SignatureDoesNotMatch("no SignedHeaders"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [key, _day, region, service, "aws4_request"] = scope[..] else {
            return Err(SigV4Refusal::SignatureDoesNotMatch("bad credential scope"));
        };
        if service != self.service || region != self.region {
            return Err(SigV4Refusal::SignatureDoesNotMatch(
                "the credential scope names another service or Region",
            ));
        }
        let principal = self
            .known
            .iter()
            .find(|p| p.access_key == key)
            .ok_or_else(|| SigV4Refusal::UnrecognizedClient(key.to_owned()))?;
        let time = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_amz_date)
            .ok_or(SigV4Refusal::SignatureDoesNotMatch("no x-amz-date"))?;
        let now = SystemTime::now();
        let skew = now
            .duration_since(time)
            .or_else(|_| time.duration_since(now))
            .unwrap_or_default();
        if skew > MAX_SKEW {
            return Err(SigV4Refusal::SignatureExpired);
        }
        let token = headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let values: Vec<(String, String)> = signed_names
            .split(';')
            // The signer adds these itself, from the time and the credentials.
            .filter(|n| !matches!(*n, "x-amz-date" | "x-amz-security-token"))
            .map(|name| {
                let joined = headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
                    .join(",");
                (name.to_owned(), joined)
            })
            .collect();
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let url = format!(
            "http://local{}",
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
        );
        let creds = Credentials::new(
            &principal.access_key,
            &principal.secret,
            token,
            None,
            "local",
        );
        let expected = signature_headers(
            &creds,
            region,
            service,
            time,
            &UnsignedRequest {
                method: method.as_str(),
                uri: &url,
                headers: &pairs,
                body,
            },
        )
        .map_err(|_| SigV4Refusal::SignatureDoesNotMatch("could not be recomputed"))?;
        let matches = expected
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v == sent);
        if !matches {
            return Err(SigV4Refusal::SignatureDoesNotMatch(
                "the signature is not the one the secret gives",
            ));
        }
        if !self.granted.iter().any(|g| g == key) {
            return Err(SigV4Refusal::AccessDenied(principal.arn.clone()));
        }
        Ok(principal.clone())
    }
}

/// `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok()?;
    let secs = u64::try_from(t.and_utc().timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(p: &LocalPrincipal, body: &[u8], time: SystemTime) -> HeaderMap {
        let headers = [("host", "127.0.0.1:9"), ("x-id-token", "abc")];
        let sig = signature_headers(
            &p.credentials(),
            "us-east-1",
            "bedrock-agentcore",
            time,
            &UnsignedRequest {
                method: "POST",
                uri: "http://127.0.0.1:9/mcp",
                headers: &headers,
                body,
            },
        )
        .unwrap();
        let mut map = HeaderMap::new();
        for (k, v) in headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(sig)
        {
            map.append(
                http::HeaderName::try_from(k).unwrap(),
                http::HeaderValue::try_from(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_a_valid_signature_of_a_granted_principal_passes() {
        let basic = LocalPrincipal::runtime("basic");
        let check = SigV4Check::new(
            "bedrock-agentcore",
            "us-east-1",
            std::slice::from_ref(&basic),
            &["basic", "premium"],
        );
        let uri: Uri = "/mcp".parse().unwrap();
        let now = SystemTime::now();
        let ok = signed(&basic, b"{}", now);
        assert_eq!(
            check.check(&Method::POST, &uri, &ok, b"{}"),
            Ok(basic.clone())
        );
        // Another body, a changed signed header, another tier's role, an old date, a bearer.
        assert!(matches!(
            check.check(&Method::POST, &uri, &ok, b"{\"x\":1}"),
            Err(SigV4Refusal::SignatureDoesNotMatch(_))
        ));
        let mut swapped = ok.clone();
        swapped.insert("x-id-token", http::HeaderValue::from_static("someone-else"));
        assert!(matches!(
            check.check(&Method::POST, &uri, &swapped, b"{}"),
            Err(SigV4Refusal::SignatureDoesNotMatch(_))
        ));
        let premium = signed(&LocalPrincipal::runtime("premium"), b"{}", now);
        assert!(matches!(
            check.check(&Method::POST, &uri, &premium, b"{}"),
            Err(SigV4Refusal::AccessDenied(_))
        ));
        let old = signed(&basic, b"{}", now - Duration::from_secs(600));
        assert_eq!(
            check.check(&Method::POST, &uri, &old, b"{}"),
            Err(SigV4Refusal::SignatureExpired)
        );
        let mut bearer = HeaderMap::new();
        bearer.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer eyJ"),
        );
        assert_eq!(
            check.check(&Method::POST, &uri, &bearer, b"{}"),
            Err(SigV4Refusal::MissingAuthenticationToken)
        );
        // A forged secret for a granted key.
        let forged = LocalPrincipal {
            secret: "guessed".into(),
            ..basic.clone()
        };
        assert!(matches!(
            check.check(&Method::POST, &uri, &signed(&forged, b"{}", now), b"{}"),
            Err(SigV4Refusal::SignatureDoesNotMatch(_))
        ));
    }
}
