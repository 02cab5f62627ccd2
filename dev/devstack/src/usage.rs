//! Cost per clinic and per tier from the agents' `inference_usage` lines: the local equivalent
//! of the Logs Insights query "Token usage and estimated cost per clinic" in
//! docs/observability.md (`filter event = "inference_usage" | stats ... by clinic_id, tier`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Line {
    event: String,
    tier: String,
    clinic_id: String,
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    estimated_cost: f64,
    #[serde(default)]
    currency: String,
}

/// One row of the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub estimated_cost: f64,
    pub currency: String,
}

impl Usage {
    fn add(&mut self, l: &Line) {
        self.requests += 1;
        self.input_tokens += l.input_tokens;
        self.output_tokens += l.output_tokens;
        self.estimated_cost += l.estimated_cost;
        if self.currency.is_empty() {
            self.currency = l.currency.clone();
        }
    }
}

/// Per (tier, clinic) and per tier, over every `inference_usage` line of `text` (other lines,
/// and lines that are not JSON, are skipped as Logs Insights' filter would).
#[derive(Debug, Default)]
pub struct CostTable {
    pub by_clinic: BTreeMap<(String, String), Usage>,
    pub by_tier: BTreeMap<String, Usage>,
}

impl CostTable {
    pub fn add_log(&mut self, text: &str) {
        for line in text.lines() {
            let Ok(l) = serde_json::from_str::<Line>(line.trim()) else {
                continue;
            };
            if l.event != tenant_context::USAGE_EVENT_NAME {
                continue;
            }
            self.by_clinic
                .entry((l.tier.clone(), l.clinic_id.clone()))
                .or_default()
                .add(&l);
            self.by_tier.entry(l.tier.clone()).or_default().add(&l);
        }
    }

    pub fn from_logs<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Self {
        let mut t = Self::default();
        for p in paths {
            if let Ok(text) = std::fs::read_to_string(p) {
                t.add_log(&text);
            }
        }
        t
    }

    /// The table as the tour prints it.
    pub fn render(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{:<8} {:<12} {:>8} {:>13} {:>13} {:>14}",
            "tier", "clinic", "requests", "input tokens", "output tokens", "est. cost"
        )];
        let row = |tier: &str, clinic: &str, u: &Usage| {
            format!(
                "{tier:<8} {clinic:<12} {:>8} {:>13} {:>13} {:>10.6} {}",
                u.requests, u.input_tokens, u.output_tokens, u.estimated_cost, u.currency
            )
        };
        for ((tier, clinic), u) in &self.by_clinic {
            out.push(row(tier, clinic, u));
        }
        for (tier, u) in &self.by_tier {
            out.push(row(tier, "(all)", u));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_usage_lines_count_per_clinic_and_tier() {
        let mut t = CostTable::default();
        t.add_log(concat!(
            r#"{"event":"inference_usage","tier":"basic","clinic_id":"clinic-a","user_id":"u","model_id":"m","input_tokens":10,"output_tokens":5,"total_tokens":15,"estimated_cost":0.5,"currency":"USD"}"#,
            "\n",
            r#"{"timestamp":"x","level":"INFO","fields":{"message":"invocation"}}"#,
            "\nnot json\n",
            r#"{"event":"inference_usage","tier":"basic","clinic_id":"clinic-a","user_id":"u","model_id":"m","input_tokens":1,"output_tokens":1,"total_tokens":2,"estimated_cost":0.25,"currency":"USD"}"#,
            "\n",
            r#"{"event":"inference_usage","tier":"premium","clinic_id":"hospital-x","user_id":"v","model_id":"m","input_tokens":100,"output_tokens":50,"total_tokens":150,"estimated_cost":2.0,"currency":"USD"}"#,
        ));
        let a = &t.by_clinic[&("basic".to_owned(), "clinic-a".to_owned())];
        assert_eq!((a.requests, a.input_tokens, a.output_tokens), (2, 11, 6));
        assert!((a.estimated_cost - 0.75).abs() < 1e-9);
        assert_eq!(t.by_tier["premium"].requests, 1);
        assert_eq!(t.by_clinic.len(), 2);
        assert_eq!(t.render().len(), 1 + 2 + 2);
    }
}
