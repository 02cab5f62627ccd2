//! Cost per clinic and per tier from the agents' `inference_usage` lines (the local equivalent
//! of the Logs Insights query in docs/observability.md).

use devstack::DevStack;
use devstack::client::{ask, usage};
use devstack::usage::CostTable;

use crate::identity::Identities;

use crate::narrate::step;
use anyhow::anyhow;

pub fn table(stack: &DevStack) -> anyhow::Result<()> {
    step(
        "Cost: requests, tokens and estimated cost per clinic and tier, from the agents' inference_usage log lines",
    );
    let logs: Vec<&std::path::Path> = stack
        .assistant
        .agents
        .iter()
        .map(|(_, _, log)| log.as_path())
        .collect();
    let table = CostTable::from_logs(logs);
    for line in table.render() {
        println!("    {line}");
    }
    let clinics: Vec<&str> = table.by_clinic.keys().map(|(_, c)| c.as_str()).collect();
    for want in ["clinic-a", "hospital-x"] {
        if !clinics.contains(&want) {
            return Err(anyhow!("no usage recorded for {want}"));
        }
    }
    if clinics.contains(&devstack::setup::SUSPENDED_CLINIC) {
        return Err(anyhow!("the suspended clinic reached an agent"));
    }
    println!(
        "    (estimates from the tier file's prices; {} never reached an agent: refused at the front door)",
        devstack::setup::SUSPENDED_CLINIC
    );
    Ok(())
}

/// What a clinic sees of its own day through the API (`GET /usage`, as the web chat shows it):
/// a clinician the requests left, the clinic's admin also its requests, tokens and cost.
pub async fn clinic_view(
    stack: &DevStack,
    http: &reqwest::Client,
    ids: &Identities,
) -> anyhow::Result<()> {
    step(
        "What a clinic sees of its own day: GET /usage (the web chat's quota line and usage panel)",
    );
    let url = stack.api.usage_url();
    let (status, a) = usage(http, &url, ids.token("clinic-a")?).await?;
    if status != 200 || a["clinic_id"] != "clinic-a" || a.get("days").is_some() {
        return Err(anyhow!("clinic-a's clinician got {status}: {a}"));
    }
    println!(
        "    clinic-a (clinician): {} of {} requests left today, resets {}; no cost figures for this role",
        a["quota"]["remaining"],
        a["quota"]["limit"],
        a["quota"]["resets_at"].as_str().unwrap_or("?")
    );
    let tokens = &a["tokens"]["day"];
    let (used, limit) = (tokens["used"].as_u64(), tokens["limit"].as_u64());
    let (Some(used), Some(limit)) = (used, limit) else {
        return Err(anyhow!("clinic-a's usage names no token budget: {a}"));
    };
    println!(
        "    clinic-a's token budget: {used} used, {} of {limit} left today (resets {})",
        limit.saturating_sub(used),
        a["tokens"]["day_resets_at"].as_str().unwrap_or("?")
    );
    let admin = stack
        .users
        .iter()
        .find(|u| u.role == "admin")
        .ok_or_else(|| anyhow!("no demo admin"))?;
    let token = ids.token(&admin.clinic_id)?;
    let asked = ask(
        http,
        &stack.api.invoke_url(),
        token,
        "What are our opening hours?",
        None,
        &[],
    )
    .await?;
    if asked.status != 200 {
        return Err(anyhow!("the admin's question got {}", asked.status));
    }
    let (status, w) = usage(http, &url, token).await?;
    let days = w["days"].as_array().cloned().unwrap_or_default();
    if status != 200 || w["clinic_id"] != admin.clinic_id.as_str() || days.is_empty() {
        return Err(anyhow!("the admin's usage got {status}: {w}"));
    }
    println!(
        "    {} (admin): {} of {} requests left; its days:",
        admin.clinic_id, w["quota"]["remaining"], w["quota"]["limit"]
    );
    for d in &days {
        println!(
            "      {}  requests {}  answers {}  tokens in {} out {}  estimated {:.6} {}",
            d["day"].as_str().unwrap_or("?"),
            d["requests"],
            d["turns"],
            d["input_tokens"],
            d["output_tokens"],
            d["estimated_cost"].as_f64().unwrap_or(0.0),
            w["currency"].as_str().unwrap_or("")
        );
    }
    let text = w.to_string();
    if let Some(other) = stack
        .users
        .iter()
        .map(|u| u.clinic_id.as_str())
        .find(|c| *c != admin.clinic_id && text.contains(c))
    {
        return Err(anyhow!("{other} appears in another clinic's usage"));
    }
    println!(
        "    (the clinic comes from the verified token only; no other clinic's figures are reachable)"
    );
    Ok(())
}
