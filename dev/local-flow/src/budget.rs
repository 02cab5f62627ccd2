//! A clinic over its token budget while a clinic of the same tier is served, and the alert the
//! provider gets.

use anyhow::anyhow;
use devstack::DevStack;
use devstack::client::ask;
use tenant_context::{ClinicId, TierCatalog};
use usage_meter::UsageMeter;
use usage_meter::budget::{Reserve, TokenBudgets};

use crate::identity::Identities;
use crate::narrate::step;

const OVER: &str = "clinic-c";
const MATE: &str = "clinic-a";

pub async fn over_budget(
    stack: &DevStack,
    http: &reqwest::Client,
    ids: &Identities,
) -> anyhow::Result<()> {
    step("Token budgets: clinic-c has used its day's tokens; clinic-a, the same tier, is served");
    let catalog = TierCatalog::embedded()?;
    let basic = catalog.config(&catalog.tier("basic")?)?.token_budget;
    let budgets = TokenBudgets::new(UsageMeter::new(
        testkit::dynamo::client(&stack.endpoints)?,
        stack.usage_table.clone(),
    ));
    // A busy day, booked at once: what many turns would have reserved (the same conditional
    // write the agents make), so the tour need not spend 250 000 tokens.
    let clinic = ClinicId::parse(OVER)?;
    let today = usage_meter::utc_today();
    let status = budgets.status(&clinic, basic, today).await?;
    let rest = status.day.left();
    let booked = match budgets.reserve(&clinic, basic, rest, today).await? {
        Reserve::Reserved { reservation, .. } => reservation,
        Reserve::Exhausted { .. } => return Err(anyhow!("{OVER}'s day could not be booked")),
    };
    println!(
        "    {OVER}: {} of its {} daily tokens used (the basic tier's budget, infra/tiers.json)",
        basic.daily_tokens, basic.daily_tokens
    );
    let refused = ask(
        http,
        &stack.api.invoke_url(),
        ids.token(OVER)?,
        "What are our opening hours?",
        None,
        &[],
    )
    .await?;
    let error = &refused.body["error"];
    if refused.status != 429 || error["code"] != "budget_exhausted" || error["reason"] != "budget" {
        return Err(anyhow!(
            "{OVER} over budget got {}: {}",
            refused.status,
            refused.body
        ));
    }
    println!(
        "    {OVER} asks: HTTP 429, reason `budget`, starts again at {} (the model was not called; not the usage plan's 429)",
        error["resets_at"].as_str().unwrap_or("?")
    );
    let served = ask(
        http,
        &stack.api.invoke_url(),
        ids.token(MATE)?,
        "What are our opening hours?",
        None,
        &[],
    )
    .await?;
    if served.status != 200 {
        return Err(anyhow!("{MATE} got {}: {}", served.status, served.body));
    }
    println!("    {MATE} asks: answered (its own budget, same tier)");
    let alerts = testkit::sns::published(&stack.endpoints, &stack.budget_topic).await?;
    let alert = alerts
        .iter()
        .find(|(subject, _)| subject.contains(OVER) && subject.contains("100%"))
        .ok_or_else(|| anyhow!("no 100% alert for {OVER} on the topic: {alerts:?}"))?;
    println!(
        "    the provider's alert (published once to the budget topic; SNS STAND-IN on moto): {}",
        alert.0
    );
    // The day back as it was, for the steps after this one.
    budgets.settle(&booked, 0).await?;
    Ok(())
}
