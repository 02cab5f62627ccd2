//! Cognito ID token verification.
//!
//! RS256 only, key by `kid` from the issuer's JWKS (cached, see `jwks.rs`), `iss` equal to the
//! configured issuer, `aud` equal to the app client id, `token_use == "id"`, `exp`/`nbf`/`iat` with at
//! most 60 s of clock skew. The JWKS URL is configured apart from the issuer: the local Cognito
//! stand-in (moto) issues AWS-style `iss` values while serving its keys on loopback.
//!
//! A token that passed is remembered (by its SHA-256, see `token_cache.rs`) until its `exp`,
//! without the leeway, and for at most `KEEP_VERIFIED`: the same caller's next call within that
//! time skips the RSA check and the claim parsing, which were most of a warm tool call's own
//! work. Only the identical token hits; refusals are never remembered.

use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::context::{CLAIM_USERNAME, TenantContext};
use crate::error::Error;
use crate::jwks::JwksCache;
use crate::tiers::TierCatalog;
use crate::token_cache::{TokenCache, TokenKey};

/// How long a Cognito ID token lives (the template's app client `IdTokenValidity`): also how
/// long a token issued before a user was disabled or deleted can still verify.
pub const ID_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Upper bound on accepted clock skew: a minute covers a host clock drifting between NTP syncs,
/// and more would stretch the 15-minute ID tokens noticeably.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);
/// Cognito ID tokens are 1-2 KiB; refuse anything that would only cost us CPU.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The longest a verified token is remembered (its `exp` ends it sooner): bounds how long a
/// process keeps accepting a token whose signing key the issuer has since withdrawn.
pub const KEEP_VERIFIED: Duration = Duration::from_secs(5 * 60);
/// At most this many remembered tokens (about one per signed-in user a process serves).
const MAX_VERIFIED: usize = 1024;

/// Environment variable names read by `VerifierConfig::from_lookup`.
pub const ENV_ISSUER: &str = "TENANTRY_TOKEN_ISSUER";
pub const ENV_AUDIENCE: &str = "TENANTRY_TOKEN_AUDIENCE";
pub const ENV_JWKS_URL: &str = "TENANTRY_JWKS_URL";
pub const ENV_LEEWAY_SECS: &str = "TENANTRY_TOKEN_LEEWAY_SECS";
pub const ENV_JWKS_REFRESH_SECS: &str = "TENANTRY_JWKS_MIN_REFRESH_SECS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    issuer: String,
    audience: String,
    jwks_url: String,
    leeway: Duration,
    jwks_min_refresh_interval: Duration,
    jwks_timeout: Duration,
}

impl VerifierConfig {
    /// `jwks_url` must be HTTPS, except on loopback (the local stand-ins).
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks_url: impl Into<String>,
    ) -> Result<Self, Error> {
        let (issuer, audience, jwks_url) = (issuer.into(), audience.into(), jwks_url.into());
        if issuer.trim().is_empty() {
            return Err(config("issuer", "must not be empty"));
        }
        if audience.trim().is_empty() {
            return Err(config(
                "audience",
                "must not be empty (the Cognito app client id)",
            ));
        }
        let url = reqwest::Url::parse(&jwks_url)
            .map_err(|e| config("jwks_url", format!("not a URL: {e}")))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(config(
                "jwks_url",
                "must be https:// (plain http is allowed only on loopback, for the local stand-ins)",
            ));
        }
        Ok(Self {
            issuer,
            audience,
            jwks_url,
            leeway: Duration::from_secs(30),
            jwks_min_refresh_interval: Duration::from_secs(60),
            jwks_timeout: Duration::from_secs(3),
        })
    }

    /// Clock skew allowed on `exp`/`nbf`; at most 60 s.
    pub fn with_leeway(mut self, leeway: Duration) -> Result<Self, Error> {
        if leeway > MAX_LEEWAY {
            return Err(config("leeway", "must be at most 60 seconds"));
        }
        self.leeway = leeway;
        Ok(self)
    }

    /// Minimum time between two JWKS fetches triggered by unknown key ids.
    pub fn with_jwks_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.jwks_min_refresh_interval = interval;
        self
    }

    pub fn with_jwks_timeout(mut self, timeout: Duration) -> Self {
        self.jwks_timeout = timeout;
        self
    }

    /// Reads `TENANTRY_TOKEN_ISSUER`, `TENANTRY_TOKEN_AUDIENCE` (required),
    /// `TENANTRY_JWKS_URL` (default: `{issuer}/.well-known/jwks.json`, Cognito's location),
    /// `TENANTRY_TOKEN_LEEWAY_SECS` (default 30, at most 60) and
    /// `TENANTRY_JWKS_MIN_REFRESH_SECS` (default 60) through `get` (e.g. `std::env::var`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let issuer =
            get(ENV_ISSUER).ok_or_else(|| config("issuer", format!("set {ENV_ISSUER}")))?;
        let audience =
            get(ENV_AUDIENCE).ok_or_else(|| config("audience", format!("set {ENV_AUDIENCE}")))?;
        let jwks_url = get(ENV_JWKS_URL)
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
        let secs = |name: &str, field: &'static str| -> Result<Option<Duration>, Error> {
            get(name)
                .map(|v| {
                    v.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                        config(field, format!("{name} must be a whole number of seconds"))
                    })
                })
                .transpose()
        };
        let mut cfg = Self::new(issuer, audience, jwks_url)?;
        if let Some(l) = secs(ENV_LEEWAY_SECS, "leeway")? {
            cfg = cfg.with_leeway(l)?;
        }
        if let Some(i) = secs(ENV_JWKS_REFRESH_SECS, "jwks_min_refresh_interval")? {
            cfg = cfg.with_jwks_min_refresh_interval(i);
        }
        Ok(cfg)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn jwks_url(&self) -> &str {
        &self.jwks_url
    }
}

fn config(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Config {
        field,
        reason: reason.into(),
    }
}

/// What a successfully verified ID token vouches for.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub context: TenantContext,
    /// `cognito:username`, for display only: never a key.
    pub username: Option<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: u64,
    /// The token's SHA-256: the key under which it is remembered, and under which callers may
    /// keep what they derive from it (tool-target's per-token clients).
    pub key: TokenKey,
}

/// Verifies Cognito ID tokens and turns them into tenant contexts. Build once per process.
pub struct TokenVerifier {
    catalog: TierCatalog,
    validation: Validation,
    jwks: JwksCache,
    verified: TokenCache<VerifiedToken>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<Value>,
    kid: Option<String>,
    crit: Option<Value>,
}

impl TokenVerifier {
    pub fn new(config: VerifierConfig, catalog: TierCatalog) -> Result<Self, Error> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let jwks = JwksCache::new(
            config.jwks_url,
            config.jwks_timeout,
            config.jwks_min_refresh_interval,
        )?;
        Ok(Self {
            catalog,
            validation,
            jwks,
            verified: TokenCache::new(MAX_VERIFIED),
        })
    }

    /// Fetches the JWKS now (for cold start). Returns the number of usable keys.
    pub async fn prefetch_keys(&self) -> Result<usize, Error> {
        self.jwks.prefetch().await
    }

    pub fn catalog(&self) -> &TierCatalog {
        &self.catalog
    }

    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, Error> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Error::TokenMalformed);
        }
        let remembered = TokenKey::of(token);
        if let Some(verified) = self.verified.get(&remembered) {
            return Ok(verified);
        }
        let header = read_header(token)?;
        // Pin the algorithm before anything else: `none`, HS256 with the public key as the
        // secret, and every other algorithm are refused here, not left to key handling.
        match &header.alg {
            Some(Value::String(a)) if a == "RS256" => {}
            Some(Value::String(a)) => return Err(Error::UnsupportedAlgorithm(printable(a))),
            _ => return Err(Error::UnsupportedAlgorithm("(missing)".into())),
        }
        // Any `crit`, even an empty list (which RFC 7515 forbids), is refused.
        if header.crit.is_some() {
            return Err(Error::CriticalExtension);
        }
        let kid = header.kid.ok_or(Error::MissingKid)?;
        let key = self.jwks.key(&kid).await?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation)
            .map_err(map_jwt_error)?;
        let claims = data.claims;
        if claims.get("token_use").and_then(Value::as_str) != Some("id") {
            return Err(Error::WrongTokenUse);
        }
        // jsonwebtoken checks exp and nbf, not iat: a token issued in the future (beyond the
        // leeway) comes from a skewed or forged issuer, never from Cognito.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        if claims
            .get("iat")
            .and_then(Value::as_u64)
            .is_some_and(|iat| iat > now.saturating_add(self.validation.leeway))
        {
            return Err(Error::NotYetValid);
        }
        let context = TenantContext::from_claims(&claims, &self.catalog)?;
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(Error::MissingClaim("exp"))?;
        let username = claims
            .get(CLAIM_USERNAME)
            .and_then(Value::as_str)
            .map(str::to_owned);
        let verified = VerifiedToken {
            context,
            username,
            expires_at,
            key: remembered,
        };
        // Until `exp` itself: near its end a token is verified in full again, with the leeway.
        let left = (std::time::UNIX_EPOCH + Duration::from_secs(expires_at))
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        self.verified
            .insert(remembered, left.min(KEEP_VERIFIED), verified.clone());
        Ok(verified)
    }
}

/// Decodes the JOSE header ourselves: jsonwebtoken cannot represent `alg: none` and would
/// report it as a JSON error; we want the refusal to say which algorithm was offered.
fn read_header(token: &str) -> Result<RawHeader, Error> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::TokenMalformed);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| Error::TokenMalformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Error::TokenMalformed)
}

/// At most 16 visible ASCII characters of a caller-supplied value, for an error message.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(16)
        .collect()
}

fn map_jwt_error(e: jsonwebtoken::errors::Error) -> Error {
    match e.kind() {
        ErrorKind::InvalidSignature => Error::BadSignature,
        ErrorKind::ExpiredSignature => Error::Expired,
        ErrorKind::ImmatureSignature => Error::NotYetValid,
        ErrorKind::InvalidIssuer => Error::WrongIssuer,
        ErrorKind::InvalidAudience => Error::WrongAudience,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => {
            Error::UnsupportedAlgorithm("RS256 key, other alg".into())
        }
        ErrorKind::MissingRequiredClaim(c) => Error::MissingClaim(match c.as_str() {
            "exp" => "exp",
            "iss" => "iss",
            "aud" => "aud",
            "sub" => "sub",
            _ => "registered claim",
        }),
        _ => Error::TokenMalformed,
    }
}
