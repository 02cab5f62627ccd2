//! Tier differences decided below the model: business hours and premium-only tools, by the
//! Gateway's Cedar policies (and the tool target's own clock), whatever the prompt says.

use agent_runtime::tools::{Gateway, GatewayError};
use devstack::DevStack;
use devstack::client::ask_patiently;

use crate::error::{FlowError, unexpected};
use crate::identity::Identities;
use crate::tour::step;

/// 10:00 and 22:00 in New York (clinic-a's timezone) on the same day.
const DAYTIME: &str = "2026-12-01T15:00:00Z";
pub const EVENING: &str = "2026-12-02T03:00:00Z";

pub async fn tiers(
    stack: &DevStack,
    http: &reqwest::Client,
    ids: &Identities,
) -> Result<(), FlowError> {
    step(
        "Tiers: basic business hours by the Gateway's Cedar policies (the tool target's clock is set by the devstack), premium tools by the Gateway's tier claim",
    );
    let url = stack.api.invoke_url();
    let token_a = ids.token("clinic-a")?;
    for (when, instant, want) in [
        ("10:00 New York", DAYTIME, "ok"),
        ("22:00 New York", EVENING, "denied"),
    ] {
        stack.set_clock(Some(instant))?;
        let a = ask_patiently(http, &url, token_a, "Show patient p-1001", None).await?;
        let status = a.body["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["tool"] == "patient_context")
            .and_then(|t| t["status"].as_str())
            .unwrap_or("not called")
            .to_owned();
        let has_patient = a.body["answer"]
            .as_str()
            .unwrap_or_default()
            .contains("Avery Lindqvist");
        println!(
            "    clinic-a at {when}: \"Show patient p-1001\" -> patient_context {status}{}",
            if has_patient {
                " (Avery Lindqvist, clinic-a's own patient)"
            } else {
                " (no patient data in the answer)"
            }
        );
        if status != want || has_patient != (want == "ok") {
            return Err(unexpected(format!(
                "at {when} patient_context should be {want}: {}",
                a.body
            )));
        }
    }

    // Straight at the premium Gateway with a basic clinic's token, through the agent's own
    // MCP client: the token is valid, but the Gateway's authorizer requires custom:tier =
    // premium, so no policy or tool sees the call (Cedar would refuse it next).
    let catalog = tenant_context::TierCatalog::embedded()?;
    let premium = catalog.config(&catalog.tier("premium")?)?;
    let premium_url = stack
        .assistant
        .gateways
        .iter()
        .find(|(t, _)| t == "premium")
        .map(|(_, g)| g.url())
        .ok_or_else(|| unexpected("no premium Gateway"))?;
    let gateway = Gateway::new(http.clone(), premium_url, premium);
    match gateway.connect(token_a, ids.context("clinic-a")?).await {
        Err(GatewayError::Unauthorized) => println!(
            "    clinic-a's token at the premium Gateway (to call web_search): refused by its JWT authorizer, custom:tier must be premium"
        ),
        Ok(session) => {
            session.close().await;
            return Err(unexpected(
                "the premium Gateway accepted a basic clinic's token",
            ));
        }
        Err(e) => return Err(unexpected(format!("premium Gateway: {e}"))),
    }
    Ok(())
}
