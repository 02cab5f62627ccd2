//! `web_search` (premium tier): public web results for general guidance, never patient data.
//!
//! The provider is configuration (`TENANTRY_WEB_SEARCH`):
//! - `https`: a search API at `TENANTRY_WEB_SEARCH_URL`, called as `GET <url>?q=<query>&count=<n>`
//!   (with `Authorization: Bearer <key>` when a key is configured: the SSM SecureString named by
//!   `TENANTRY_WEB_SEARCH_API_KEY_PARAMETER` in deployments, or `TENANTRY_WEB_SEARCH_API_KEY`
//!   locally), answering `{"results": [{"title", "url", "snippet"}]}`; put a small adapter in
//!   front of a provider whose shape differs. It needs a guardrail for the queries
//!   (`TENANTRY_WEB_QUERY_GUARDRAIL_ID` and `_VERSION`): without one the function does not start;
//! - `offline`: a LOCAL STAND-IN with a few fixed, invented entries, labelled as such in every
//!   result, for local runs without a network;
//! - unset: the tool answers `web_search_not_configured`.
//!
//! Queries leave the deployment: a query carrying a patient id is refused before anything else,
//! and one the query guardrail flags (personal information: names, addresses, phone numbers,
//! identifiers) before the provider is called; each refusal is a security event. An
//! unreachable guardrail refuses the search (fail closed).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::ToolError;
use env_config::ConfigError;
use secret_config::{SecretSource, SecretVars};

pub const ENV_WEB_SEARCH: &str = "TENANTRY_WEB_SEARCH";
pub const ENV_WEB_SEARCH_URL: &str = "TENANTRY_WEB_SEARCH_URL";
pub const ENV_WEB_SEARCH_API_KEY: &str = "TENANTRY_WEB_SEARCH_API_KEY";
pub const ENV_WEB_SEARCH_API_KEY_PARAMETER: &str = "TENANTRY_WEB_SEARCH_API_KEY_PARAMETER";
pub const ENV_WEB_QUERY_GUARDRAIL_ID: &str = "TENANTRY_WEB_QUERY_GUARDRAIL_ID";
pub const ENV_WEB_QUERY_GUARDRAIL_VERSION: &str = "TENANTRY_WEB_QUERY_GUARDRAIL_VERSION";
/// Marks every result of the offline provider.
pub const OFFLINE_LABEL: &str = "[offline search stand-in]";

/// The provider's key: inline (local runs) or an SSM SecureString (deployments).
pub const WEB_SEARCH_KEY_VARS: SecretVars = SecretVars {
    inline: ENV_WEB_SEARCH_API_KEY,
    parameter: ENV_WEB_SEARCH_API_KEY_PARAMETER,
    secure: true,
    required: false,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebResult {
    pub title: String,
    pub url: String,
    #[serde(default)]
    pub snippet: String,
}

/// The guardrail that reads each query before it leaves (its id and pinned version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryGuardrail {
    pub id: String,
    pub version: String,
}

/// Web search as configured, before its key is read and its guardrail client is built (at
/// start-up, by `main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebSearchConfig {
    NotConfigured,
    Offline,
    Https {
        url: String,
        key: Option<SecretSource>,
        guardrail: QueryGuardrail,
    },
}

/// The guardrail could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("the query guardrail could not be applied")]
pub struct ScreenUnavailable;

/// Reads a query before it leaves the deployment: `Ok(false)` refuses it.
pub trait QueryScreen: Send + Sync {
    fn admits<'a>(
        &'a self,
        query: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, ScreenUnavailable>> + Send + 'a>>;
}

/// The query guardrail through ApplyGuardrail (as input: its personal-information filters
/// block on input).
pub struct GuardrailScreen {
    pub client: aws_sdk_bedrockruntime::Client,
    pub guardrail: QueryGuardrail,
}

impl QueryScreen for GuardrailScreen {
    fn admits<'a>(
        &'a self,
        query: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, ScreenUnavailable>> + Send + 'a>> {
        use aws_sdk_bedrockruntime::types::{
            GuardrailAction, GuardrailContentBlock, GuardrailContentSource, GuardrailTextBlock,
        };
        Box::pin(async move {
            let block = GuardrailTextBlock::builder()
                .text(query)
                .build()
                .map_err(|_| ScreenUnavailable)?;
            let out = self
                .client
                .apply_guardrail()
                .guardrail_identifier(&self.guardrail.id)
                .guardrail_version(&self.guardrail.version)
                .source(GuardrailContentSource::Input)
                .content(GuardrailContentBlock::Text(block))
                .send()
                .await
                .map_err(|e| {
                    use aws_sdk_bedrockruntime::error::ProvideErrorMetadata as _;
                    // The error code only: never the query.
                    tracing::error!(
                        code = e.code().unwrap_or("unreachable"),
                        "query guardrail unavailable; web search refused"
                    );
                    ScreenUnavailable
                })?;
            Ok(out.action() != &GuardrailAction::GuardrailIntervened)
        })
    }
}

#[derive(Clone)]
pub enum WebSearch {
    NotConfigured,
    Offline,
    Https {
        http: reqwest::Client,
        url: String,
        api_key: Option<String>,
        screen: Arc<dyn QueryScreen>,
    },
}

impl std::fmt::Debug for WebSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotConfigured => "WebSearch::NotConfigured",
            Self::Offline => "WebSearch::Offline",
            Self::Https { .. } => "WebSearch::Https",
        })
    }
}

#[derive(Deserialize)]
struct ApiReply {
    #[serde(default)]
    results: Vec<WebResult>,
}

/// Invented entries for the offline provider (no real guideline is quoted).
const OFFLINE: [(&str, &str); 5] = [
    (
        "atrial fibrillation anticoagulation stroke risk guidance",
        "Stroke-risk scoring guides anticoagulation decisions in atrial fibrillation; review bleeding risk at each visit.",
    ),
    (
        "hypertension blood pressure targets guidance",
        "Home blood pressure readings complement clinic readings; confirm raised values before changing treatment.",
    ),
    (
        "diabetes hba1c monitoring guidance",
        "HbA1c is commonly rechecked every three to six months while treatment is being adjusted.",
    ),
    (
        "asthma inhaler technique guidance",
        "Check inhaler technique before stepping up asthma treatment; poor technique is a common cause of poor control.",
    ),
    (
        "vaccination influenza season guidance",
        "Seasonal influenza vaccination is offered to at-risk groups before the winter season.",
    ),
];

/// Whether the text contains a patient id of the synthetic form `p-<digits>`.
fn has_patient_id(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .any(|w| {
            w.strip_prefix("p-")
                .or_else(|| w.strip_prefix("P-"))
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        })
}

impl WebSearchConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let invalid = |var: &'static str, reason: &str| ConfigError::new(var, reason);
        match get(ENV_WEB_SEARCH).as_deref().map(str::trim) {
            None | Some("") => Ok(Self::NotConfigured),
            Some("offline") => Ok(Self::Offline),
            Some("https") => {
                let url = get(ENV_WEB_SEARCH_URL)
                    .filter(|u| u.starts_with("https://"))
                    .ok_or_else(|| invalid(ENV_WEB_SEARCH_URL, "must be an https:// URL"))?;
                let required = |var: &'static str| {
                    get(var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                        invalid(
                            var,
                            "must be set: queries leave the deployment, so a guardrail with \
                             personal-information filters reads each one first",
                        )
                    })
                };
                let guardrail = QueryGuardrail {
                    id: required(ENV_WEB_QUERY_GUARDRAIL_ID)?,
                    version: required(ENV_WEB_QUERY_GUARDRAIL_VERSION)?,
                };
                let key = WEB_SEARCH_KEY_VARS.optional_source(&get)?;
                Ok(Self::Https {
                    url,
                    key,
                    guardrail,
                })
            }
            Some(_) => Err(invalid(ENV_WEB_SEARCH, "must be `https` or `offline`")),
        }
    }
}

impl WebSearch {
    /// The https provider, with its key (already read) and the screen its queries pass.
    pub fn https(
        url: String,
        api_key: Option<String>,
        screen: Arc<dyn QueryScreen>,
    ) -> Result<Self, ConfigError> {
        let http = shared_https::roots()
            .reqwest_builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|_| ConfigError::new(ENV_WEB_SEARCH, "no HTTP client"))?;
        Ok(Self::Https {
            http,
            url,
            api_key,
            screen,
        })
    }

    pub async fn search(&self, query: &str, count: u32) -> Result<Vec<WebResult>, ToolError> {
        if has_patient_id(query) {
            tracing::warn!(
                security_event = "web_query_refused",
                reason = "patient_id",
                "a web search query carried a patient id; refused before it left"
            );
            return Err(ToolError::InvalidArguments(
                "web search queries must not contain patient identifiers".into(),
            ));
        }
        match self {
            Self::NotConfigured => Err(ToolError::WebSearchNotConfigured),
            Self::Offline => {
                let words: Vec<String> = query
                    .to_lowercase()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                let mut hits: Vec<(usize, usize)> = OFFLINE
                    .iter()
                    .enumerate()
                    .map(|(i, (keys, _))| {
                        (
                            words.iter().filter(|w| keys.contains(w.as_str())).count(),
                            i,
                        )
                    })
                    .filter(|(n, _)| *n > 0)
                    .collect();
                hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                Ok(hits
                    .into_iter()
                    .take(count as usize)
                    .map(|(_, i)| WebResult {
                        title: format!("{OFFLINE_LABEL} {}", OFFLINE[i].0),
                        url: format!("https://search-standin.invalid/{i}"),
                        snippet: OFFLINE[i].1.to_owned(),
                    })
                    .collect())
            }
            Self::Https {
                http,
                url,
                api_key,
                screen,
            } => {
                match screen.admits(query).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            security_event = "web_query_refused",
                            reason = "guardrail",
                            "the query guardrail flagged a web search query; refused before it left"
                        );
                        return Err(ToolError::InvalidArguments(
                            "web search queries must not contain personal information".into(),
                        ));
                    }
                    Err(ScreenUnavailable) => return Err(ToolError::Unavailable),
                }
                let mut target = reqwest::Url::parse(url).map_err(|_| ToolError::Unavailable)?;
                target
                    .query_pairs_mut()
                    .append_pair("q", query)
                    .append_pair("count", &count.to_string());
                let mut req = http.get(target);
                if let Some(key) = api_key {
                    req = req.bearer_auth(key);
                }
                let reply = req
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| {
                        tracing::error!(status = ?e.status(), "web search provider failed");
                        ToolError::Unavailable
                    })?;
                let body: ApiReply = reply.json().await.map_err(|_| ToolError::Unavailable)?;
                Ok(body.results.into_iter().take(count as usize).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_ids_never_leave() {
        assert!(has_patient_id("guidance for p-5001 please"));
        assert!(has_patient_id("P-12"));
        assert!(!has_patient_id("p-value interpretation"));
        assert!(!has_patient_id("atrial fibrillation"));
    }

    #[tokio::test]
    async fn the_offline_provider_is_labelled() {
        let r = WebSearch::Offline
            .search("latest atrial fibrillation guidance", 3)
            .await
            .unwrap();
        assert!(!r.is_empty());
        assert!(r.iter().all(|x| x.title.starts_with(OFFLINE_LABEL)));
        assert!(matches!(
            WebSearch::NotConfigured.search("x", 1).await,
            Err(ToolError::WebSearchNotConfigured)
        ));
    }
}
