//! Amazon Bedrock Guardrails on the way in and the way out. The OpenAI-compatible endpoint
//! applies none by itself, so the agent calls ApplyGuardrail on the prompt before the model
//! sees it and on the answer before the caller does (a masked or blocked answer replaces it).
//!
//! Whether a tier has one and what happens when it cannot be reached come from the tier file:
//! `refuse` (fail closed, the healthcare default) or `answer` (served unchecked, and the
//! final event says `guardrail: skipped`).

use aws_sdk_bedrockruntime as runtime;
use runtime::types::{
    GuardrailAction, GuardrailContentBlock, GuardrailContentSource, GuardrailOutputContent,
    GuardrailTextBlock,
};
use tenant_context::{ClinicId, GuardrailPolicy, IfGuardrailUnavailable};

/// The deployed guardrail (`TENANTRY_GUARDRAIL_ID`, `TENANTRY_GUARDRAIL_VERSION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailSettings {
    pub id: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to change.
    Pass,
    /// The guardrail intervened: its text replaces the prompt's answer or the answer.
    Intervened(String),
}

/// Which side of the model a checked text is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Prompt,
    Answer,
    /// A tool's text from outside the clinic's records, checked as input (the prompt-attack
    /// filter reads input only).
    ToolText,
}

/// What a check means for the turn, the tier's fallback applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Pass,
    /// The guardrail's text replaces the answer (for a prompt: no model call at all).
    Intervened(String),
    /// Unreachable, and the tier answers unchecked: the final event says `skipped`.
    Unchecked,
    /// Unreachable, and the tier refuses (fail closed).
    Refuse,
}

#[derive(Debug, thiserror::Error)]
#[error("the guardrail could not be applied: {0}")]
pub struct GuardrailUnavailable(String);

pub struct Guardrail {
    client: runtime::Client,
    settings: GuardrailSettings,
    policy: GuardrailPolicy,
}

impl Guardrail {
    pub fn new(
        client: runtime::Client,
        settings: GuardrailSettings,
        policy: GuardrailPolicy,
    ) -> Self {
        Self {
            client,
            settings,
            policy,
        }
    }

    /// Whether an unreachable guardrail refuses the request (fail closed).
    pub fn fails_closed(&self) -> bool {
        self.policy.if_unavailable == IfGuardrailUnavailable::Refuse
    }

    #[tracing::instrument(name = "guardrail.input", skip_all)]
    pub async fn check_input(&self, text: &str) -> Result<Verdict, GuardrailUnavailable> {
        self.apply(GuardrailContentSource::Input, text).await
    }

    #[tracing::instrument(name = "guardrail.output", skip_all)]
    pub async fn check_output(&self, text: &str) -> Result<Verdict, GuardrailUnavailable> {
        self.apply(GuardrailContentSource::Output, text).await
    }

    /// Checks `text` and applies the tier's fallback when the guardrail cannot be reached; every
    /// outcome is logged here (the clinic, never the text).
    pub async fn check(&self, side: Side, text: &str, clinic: &ClinicId) -> Checked {
        let (checked, what) = match side {
            Side::Prompt => (self.check_input(text).await, "the prompt"),
            Side::Answer => (self.check_output(text).await, "the answer"),
            Side::ToolText => (self.check_input(text).await, "a tool's outside text"),
        };
        match checked {
            Ok(Verdict::Pass) => Checked::Pass,
            Ok(Verdict::Intervened(replacement)) => {
                tracing::info!(clinic_id = %clinic, "guardrail intervened on {what}");
                Checked::Intervened(replacement)
            }
            Err(e) if self.fails_closed() => {
                tracing::error!(error = %e, clinic_id = %clinic, "guardrail unavailable; {what} refused (fail closed)");
                Checked::Refuse
            }
            Err(e) => {
                tracing::warn!(error = %e, clinic_id = %clinic, "guardrail unavailable; {what} passed unchecked as the tier file allows");
                Checked::Unchecked
            }
        }
    }

    async fn apply(
        &self,
        source: GuardrailContentSource,
        text: &str,
    ) -> Result<Verdict, GuardrailUnavailable> {
        let block = GuardrailTextBlock::builder()
            .text(text)
            .build()
            .map_err(|e| GuardrailUnavailable(e.to_string()))?;
        let out = self
            .client
            .apply_guardrail()
            .guardrail_identifier(&self.settings.id)
            .guardrail_version(&self.settings.version)
            .source(source)
            .content(GuardrailContentBlock::Text(block))
            .send()
            .await
            // The code and message only: never the text that was checked.
            .map_err(|e| GuardrailUnavailable(crate::brief_sdk_error(&e)))?;
        Ok(match out.action() {
            GuardrailAction::GuardrailIntervened => Verdict::Intervened(
                out.outputs()
                    .iter()
                    .filter_map(GuardrailOutputContent::text)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => Verdict::Pass,
        })
    }
}
