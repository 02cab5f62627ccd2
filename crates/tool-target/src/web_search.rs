//! `web_search` (premium tier): public web results for general guidance, never patient data.
//!
//! The provider is configuration (`TENANTRY_WEB_SEARCH`):
//! - `https`: a search API at `TENANTRY_WEB_SEARCH_URL`, called as `GET <url>?q=<query>&count=<n>`
//!   (with `Authorization: Bearer <TENANTRY_WEB_SEARCH_API_KEY>` when set), answering
//!   `{"results": [{"title", "url", "snippet"}]}`; put a small adapter in front of a provider
//!   whose shape differs;
//! - `offline`: a LOCAL STAND-IN with a few fixed, invented entries, labelled as such in every
//!   result, for local runs without a network;
//! - unset: the tool answers `web_search_not_configured`.
//!
//! Queries leave the deployment, so a query carrying a patient id is refused before any call.

use serde::{Deserialize, Serialize};

use crate::error::ToolError;
use env_config::ConfigError;

pub const ENV_WEB_SEARCH: &str = "TENANTRY_WEB_SEARCH";
pub const ENV_WEB_SEARCH_URL: &str = "TENANTRY_WEB_SEARCH_URL";
pub const ENV_WEB_SEARCH_API_KEY: &str = "TENANTRY_WEB_SEARCH_API_KEY";
/// Marks every result of the offline provider.
pub const OFFLINE_LABEL: &str = "[offline search stand-in]";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebResult {
    pub title: String,
    pub url: String,
    #[serde(default)]
    pub snippet: String,
}

#[derive(Debug, Clone)]
pub enum WebSearch {
    NotConfigured,
    Offline,
    Https {
        http: reqwest::Client,
        url: String,
        api_key: Option<String>,
    },
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

impl WebSearch {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let invalid = |var: &'static str, reason: &str| ConfigError::new(var, reason);
        match get(ENV_WEB_SEARCH).as_deref().map(str::trim) {
            None | Some("") => Ok(Self::NotConfigured),
            Some("offline") => Ok(Self::Offline),
            Some("https") => {
                let url = get(ENV_WEB_SEARCH_URL)
                    .filter(|u| u.starts_with("https://"))
                    .ok_or_else(|| invalid(ENV_WEB_SEARCH_URL, "must be an https:// URL"))?;
                let http = shared_https::roots()
                    .reqwest_builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .map_err(|_| invalid(ENV_WEB_SEARCH, "no HTTP client"))?;
                Ok(Self::Https {
                    http,
                    url,
                    api_key: get(ENV_WEB_SEARCH_API_KEY).filter(|k| !k.trim().is_empty()),
                })
            }
            Some(_) => Err(invalid(ENV_WEB_SEARCH, "must be `https` or `offline`")),
        }
    }

    pub async fn search(&self, query: &str, count: u32) -> Result<Vec<WebResult>, ToolError> {
        if has_patient_id(query) {
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
            Self::Https { http, url, api_key } => {
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
