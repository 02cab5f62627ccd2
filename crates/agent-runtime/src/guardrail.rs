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
use tenant_context::{GuardrailPolicy, IfGuardrailUnavailable};

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
