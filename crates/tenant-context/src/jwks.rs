//! The issuer's signing keys, fetched from its JWKS URL and cached in process.
//!
//! - A known `kid` is served from memory (the hot path: one read lock, no I/O).
//! - An unknown `kid` triggers at most one refresh per `min_refresh_interval`, shared by all
//!   concurrent callers (single flight), so a flood of tokens with made-up kids cannot turn
//!   into a flood of requests to the identity provider.
//! - A failed refresh keeps the keys already cached: an outage of the JWKS endpoint does not
//!   stop tokens signed with known keys from verifying.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;

use crate::error::Error;

/// JWKS documents are a few KiB; refuse anything absurd.
const MAX_JWKS_BYTES: usize = 256 * 1024;

type KeyMap = HashMap<String, Arc<DecodingKey>>;

#[derive(Default)]
struct RefreshState {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

pub(crate) struct JwksCache {
    http: reqwest::Client,
    url: String,
    min_refresh_interval: Duration,
    keys: RwLock<Arc<KeyMap>>,
    refresh: tokio::sync::Mutex<RefreshState>,
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

impl JwksCache {
    pub(crate) fn new(
        url: String,
        timeout: Duration,
        min_refresh_interval: Duration,
    ) -> Result<Self, Error> {
        let http = shared_https::roots()
            .reqwest_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Config {
                field: "jwks_url",
                reason: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            url,
            min_refresh_interval,
            keys: RwLock::new(Arc::default()),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
        })
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        // A poisoned lock only means a writer panicked mid-swap of an Arc; the map is intact.
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.get(kid).cloned()
    }

    fn cached_count(&self) -> usize {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The key for `kid`, refreshing the key set at most once per interval.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, Error> {
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        let mut state = self.refresh.lock().await;
        // Another task may have refreshed while this one waited for the lock.
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        let due = state
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.min_refresh_interval);
        if due {
            state.last_attempt = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => {
                    tracing::info!(keys = keys.len(), "JWKS refreshed");
                    *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
                    state.last_error = None;
                }
                Err(reason) => {
                    tracing::warn!(%reason, cached = self.cached_count(), "JWKS refresh failed; keeping cached keys");
                    state.last_error = Some(reason);
                }
            }
            if let Some(k) = self.cached(kid) {
                return Ok(k);
            }
        }
        match &state.last_error {
            Some(reason) => Err(Error::JwksUnavailable {
                reason: format!(
                    "{reason}; {} key(s) cached, none with this kid; next fetch allowed {}s after the last attempt",
                    self.cached_count(),
                    self.min_refresh_interval.as_secs()
                ),
            }),
            None => Err(Error::UnknownKid),
        }
    }

    /// Fetch once now, e.g. at cold start, so the first request does not pay for it.
    pub(crate) async fn prefetch(&self) -> Result<usize, Error> {
        let mut state = self.refresh.lock().await;
        state.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                let n = keys.len();
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
                state.last_error = None;
                Ok(n)
            }
            Err(reason) => {
                state.last_error = Some(reason.clone());
                Err(Error::JwksUnavailable { reason })
            }
        }
    }

    async fn fetch(&self) -> Result<KeyMap, String> {
        let url = &self.url;
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url} failed: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("GET {url} returned HTTP {status}"));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(format!(
                "GET {url}: JWKS larger than {MAX_JWKS_BYTES} bytes"
            ));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: reading body failed: {e}"))?;
        parse_document(&body).map_err(|e| format!("GET {url}: {e}"))
    }
}

/// A JWKS document's bytes as the identity provider sent them (untrusted until a signature
/// made with one of its keys checks out).
pub(crate) fn parse_document(body: &[u8]) -> Result<KeyMap, String> {
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!("JWKS larger than {MAX_JWKS_BYTES} bytes"));
    }
    let doc: JwksDocument =
        serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
    Ok(parse_keys(doc.keys))
}

/// Keeps the RSA signing keys usable with RS256 and skips the rest, so one exotic key in the
/// set does not make the whole set unusable.
fn parse_keys(raw: Vec<serde_json::Value>) -> KeyMap {
    let mut keys = KeyMap::new();
    for value in raw {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            tracing::debug!("skipping a JWKS entry that is not a JWK this verifier understands");
            continue;
        };
        let usable = matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
            && matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256))
            && matches!(
                jwk.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            );
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if !usable {
            continue;
        }
        match DecodingKey::from_jwk(&jwk) {
            Ok(key) => {
                keys.insert(kid, Arc::new(key));
            }
            Err(e) => tracing::warn!(error = %e, "skipping an RSA JWK that does not decode"),
        }
    }
    keys
}
