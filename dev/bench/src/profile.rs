//! The latency profile: how long each dependency of a turn takes to answer, so a benchmark on
//! one machine waits about as long as a turn in an AWS region would. The counting proxies hold
//! each request that long, the tool target waits the Lambda invoke, and the model stand-in
//! writes at the profile's speed.

use std::time::Duration;

use anyhow::anyhow;
use serde::{Deserialize, Serialize};

/// Milliseconds per dependency. The defaults ([`Profile::PLANNING`]) are the planning profile
/// the latency work was specified with: in-region round trips as seen from a runtime microVM
/// (AgentCore Gateway 25 ms, AgentCore Memory 30 ms, ApplyGuardrail 120 ms, a Lambda invoke
/// 30 ms) and a mid-size hosted model (400 ms to the first token, then 20 ms per 10 tokens,
/// 50 tokens a second); DynamoDB 5 ms, after its documented single-digit-millisecond
/// latency. They are estimates, not measurements on AWS (docs/deploying.md lists measuring
/// them as an open check); `--profile` changes any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub gateway: u64,
    pub memory: u64,
    pub guardrail: u64,
    pub lambda: u64,
    pub dynamodb: u64,
    pub first_token: u64,
    pub per_10_tokens: u64,
}

const KEYS: [&str; 7] = [
    "gateway",
    "memory",
    "guardrail",
    "lambda",
    "dynamodb",
    "first-token",
    "per-10-tokens",
];

impl Profile {
    /// Every dependency answering at once: the runs that measure the processes' own cost.
    pub const NONE: Profile = Profile {
        gateway: 0,
        memory: 0,
        guardrail: 0,
        lambda: 0,
        dynamodb: 0,
        first_token: 0,
        per_10_tokens: 0,
    };

    pub const PLANNING: Profile = Profile {
        gateway: 25,
        memory: 30,
        guardrail: 120,
        lambda: 30,
        dynamodb: 5,
        first_token: 400,
        per_10_tokens: 20,
    };

    fn slot(&mut self, key: &str) -> Option<&mut u64> {
        Some(match key {
            "gateway" => &mut self.gateway,
            "memory" => &mut self.memory,
            "guardrail" => &mut self.guardrail,
            "lambda" => &mut self.lambda,
            "dynamodb" => &mut self.dynamodb,
            "first-token" => &mut self.first_token,
            "per-10-tokens" => &mut self.per_10_tokens,
            _ => return None,
        })
    }

    /// `key=ms,...` over the planning profile: `guardrail=200,first-token=700`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut profile = Self::PLANNING;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| anyhow!("profile entry {part:?} is not key=milliseconds"))?;
            let ms = value.trim().parse::<u64>().map_err(|_| {
                anyhow!("profile entry {part:?}: {value:?} is not a whole number of milliseconds")
            })?;
            *profile.slot(key.trim()).ok_or_else(|| {
                anyhow!(
                    "profile entry {part:?}: unknown dependency (one of {})",
                    KEYS.join(", ")
                )
            })? = ms;
        }
        Ok(profile)
    }

    pub fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    /// The model's time per token (the stand-in counts a token as 4 characters).
    pub fn per_token(&self) -> Duration {
        Duration::from_micros(self.per_10_tokens * 100)
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        format!(
            "AgentCore Gateway {} ms, AgentCore Memory {} ms, ApplyGuardrail {} ms, Lambda invoke \
             {} ms, DynamoDB {} ms, model {} ms to the first token + {} ms per 10 tokens",
            self.gateway,
            self.memory,
            self.guardrail,
            self.lambda,
            self.dynamodb,
            self.first_token,
            self.per_10_tokens
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_override_the_planning_profile() {
        let p = Profile::parse("guardrail=200, first-token=700").unwrap();
        assert_eq!(p.guardrail, 200);
        assert_eq!(p.first_token, 700);
        assert_eq!(p.gateway, Profile::PLANNING.gateway);
        assert_eq!(Profile::parse("").unwrap(), Profile::PLANNING);
        assert_eq!(p.per_token(), Duration::from_millis(2));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        let e = Profile::parse("gateway").unwrap_err().to_string();
        assert!(e.contains("key=milliseconds"), "{e}");
        let e = Profile::parse("gateway=fast").unwrap_err().to_string();
        assert!(e.contains("whole number"), "{e}");
        let e = Profile::parse("network=3").unwrap_err().to_string();
        assert!(e.contains("unknown dependency"), "{e}");
    }
}
