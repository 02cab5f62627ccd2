//! The tour: the stack comes up, then each step shows one property of the product working, as
//! a client sees it, and fails (exit status 1) if the property does not hold.

use anyhow::Context as _;
use anyhow::anyhow;
use devstack::{DevStack, Options};
use tenant_context::TierCatalog;

use crate::narrate::step;

/// One line per tier of `catalog`: model, plan, tools and hours, as the tier file says.
pub fn catalog_lines(catalog: &TierCatalog) -> Vec<String> {
    catalog
        .iter()
        .map(|(tier, cfg)| {
            let hours = cfg.business_hours.as_ref().map_or("24/7".to_owned(), |b| {
                format!(
                    "{} only {:02}:00-{:02}:00",
                    b.tools.join(","),
                    b.start_hour,
                    b.end_hour
                )
            });
            format!(
                "{tier:<8} model {:<34} {} req/s, burst {}, {}/{}; tools {}; {hours}",
                cfg.model_id,
                cfg.usage_plan.rate_limit,
                cfg.usage_plan.burst_limit,
                cfg.usage_plan.quota.limit,
                format!("{:?}", cfg.usage_plan.quota.period).to_lowercase(),
                cfg.tools.join(",")
            )
        })
        .collect()
}

/// Every request the tour made the deployed code send to an emulated AWS API, checked by the
/// emulation against AWS's own service model for that API: none may have been refused.
fn model_checks(stack: &DevStack) -> anyhow::Result<()> {
    step(
        "Against AWS's own definitions: what the code sent to each emulated AWS API, checked with botocore's service model",
    );
    for (api, checks) in stack.model_checks() {
        println!(
            "    {api:<32} {:>4} checked, {} refused",
            checks.checked(),
            checks.refused().len()
        );
    }
    let refused = stack.model_refusals();
    if !refused.is_empty() {
        return Err(anyhow!(
            "AWS's service models refused what the code sent:\n{}",
            refused.join("\n")
        ));
    }
    println!(
        "    (a request AWS would refuse is refused here too, with AWS's error: the emulations are no more permissive than AWS)"
    );
    Ok(())
}

pub async fn run() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let catalog = TierCatalog::embedded()?;
    println!("Tenantry tour, on the LOCAL STAND-INS and EMULATIONS: no AWS account is used.");

    step("Tier catalog (infra/tiers.json)");
    for line in catalog_lines(&catalog) {
        println!("    {line}");
    }

    step(
        "The stack: stand-ins, emulations and the real binaries (the same as scripts/devstack.sh up)",
    );
    let workspace = std::env::current_dir().context("no current directory")?;
    let stack = DevStack::start(Options::for_workspace(workspace, "tour")?, &mut |line| {
        println!("    {line}")
    })
    .await?;
    let http = reqwest::Client::new();
    // A fixed evening in New York for the tool target's clock, so every run shows the same
    // business-hours decisions (the tiers step moves it).
    stack.set_clock(Some(crate::tiers::EVENING))?;

    let ids = crate::identity::sign_in_everyone(&stack).await?;
    let (verified, token) = &ids.first;
    crate::credentials::vend_credentials(
        &stack.lambda,
        &stack.endpoints,
        verified,
        token,
        &ids.forged,
    )
    .await?;
    crate::tools::call_tools(&stack.lambda, &ids, &TierCatalog::embedded()?).await?;
    crate::front_door::front_door(&stack, &http).await?;
    crate::assistant::questions(&stack, &http, &ids).await?;
    crate::assistant::memory(&stack, &http, &ids).await?;
    crate::tiers::tiers(&stack, &http).await?;
    stack.set_clock(Some(crate::tiers::EVENING))?;
    crate::budget::over_budget(&stack, &http, &ids).await?;
    crate::front_door::burst(&stack, &http).await?;
    crate::cost::table(&stack)?;
    crate::cost::clinic_view(&stack, &http, &ids).await?;
    let clinic_admin = crate::users::add_clinic_admin(&stack).await?;
    crate::audit::who_looked(&stack, &http, &ids, &clinic_admin).await?;
    crate::users::nurse_made_admin(&stack, &http).await?;
    crate::lifecycle::lifecycle(&stack, &http).await?;
    model_checks(&stack)?;
    drop(stack);

    println!(
        "\nDone in {:.0} s: {} tenants signed in, the tampered token refused, credentials vended for one tenant only, every tool called and every cross-tenant attempt refused, questions answered from each clinic's own data through API Gateway, a suspended clinic, a clinic over its token budget and an over-limit burst refused, the cost attributed per clinic, each clinic shown its own day, a patient's audit trail read by the clinic's new administrator, a nurse made administrator without her memory, clinic-c moved to premium with its documents, and clinic-b exported and purged, its id kept from reuse.",
        started.elapsed().as_secs_f64(),
        ids.tokens.len(),
    );
    println!(
        "Next: scripts/devstack.sh up starts this stack and keeps it running; chat in a browser at http://127.0.0.1:27160/ or in the terminal with scripts/devstack.sh chat --clinic clinic-a."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A third tier in a copy of the tier file is listed with its own settings, by the same
    /// code (the template's side: infra-template's `a_third_tier_renders_without_code_changes`).
    #[test]
    fn a_third_tier_is_listed_without_code_changes() {
        let mut file: serde_json::Value =
            serde_json::from_str(&testkit::tenants::tier_file_with_copy("premium", "gold"))
                .unwrap();
        file["tiers"]["gold"]["model_id"] = "example.gold-model-v1".into();
        file["tiers"]["gold"]["usage_plan"]["quota"]["limit"] = 5000.into();
        let catalog = TierCatalog::from_json(&file.to_string()).unwrap();
        let lines = catalog_lines(&catalog);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let gold_line = lines
            .iter()
            .find(|l| l.starts_with("gold "))
            .expect("the gold tier is listed");
        assert!(gold_line.contains("example.gold-model-v1"), "{gold_line}");
        assert!(gold_line.contains("5000/day"), "{gold_line}");
        assert!(gold_line.contains("web_search"), "{gold_line}");
        assert!(lines.iter().any(|l| l.starts_with("basic ")));
    }
}
