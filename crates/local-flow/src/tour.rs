//! The tour: the stack comes up, then each step shows one property of the product working, as
//! a client sees it, and fails (exit status 1) if the property does not hold.

use devstack::{DevStack, Options};
use tenant_context::TierCatalog;

use crate::error::FlowError;

pub fn step(title: &str) {
    println!("\n==> {title}");
}

pub async fn run() -> Result<(), FlowError> {
    let started = std::time::Instant::now();
    let catalog = TierCatalog::embedded()?;
    println!("Tenantry tour, on the LOCAL STAND-INS and EMULATIONS: no AWS account is used.");

    step("Tier catalog (infra/tiers.json)");
    for (tier, cfg) in catalog.iter() {
        let hours = cfg.business_hours.as_ref().map_or("24/7".to_owned(), |b| {
            format!(
                "{} only {:02}:00-{:02}:00",
                b.tools.join(","),
                b.start_hour,
                b.end_hour
            )
        });
        println!(
            "    {tier:<8} model {:<34} {} req/s, burst {}, {}/{}; tools {}; {hours}",
            cfg.model_id,
            cfg.usage_plan.rate_limit,
            cfg.usage_plan.burst_limit,
            cfg.usage_plan.quota.limit,
            format!("{:?}", cfg.usage_plan.quota.period).to_lowercase(),
            cfg.tools.join(",")
        );
    }

    step(
        "The stack: stand-ins, emulations and the real binaries (the same as scripts/devstack.sh up)",
    );
    let workspace = std::env::current_dir()
        .map_err(|e| crate::error::unexpected(format!("no current directory: {e}")))?;
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
    crate::front_door::front_door(&stack, &http, &ids).await?;
    crate::assistant::questions(&stack, &http, &ids).await?;
    crate::assistant::memory(&stack, &http, &ids).await?;
    crate::tiers::tiers(&stack, &http, &ids).await?;
    stack.set_clock(Some(crate::tiers::EVENING))?;
    crate::limits::burst(&stack, &http, &ids).await?;
    crate::cost::table(&stack)?;
    crate::cost::clinic_view(&stack, &http, &ids).await?;
    drop(stack);

    println!(
        "\nDone in {:.0} s: {} tenants signed in, the tampered token refused, credentials vended for one tenant only, every tool called and every cross-tenant attempt refused, questions answered from each clinic's own data through API Gateway, a suspended clinic and an over-limit burst refused, the cost attributed per clinic, and each clinic shown its own day.",
        started.elapsed().as_secs_f64(),
        ids.tokens.len(),
    );
    println!(
        "Next: scripts/devstack.sh up starts this stack and keeps it running; chat in a browser at http://127.0.0.1:47160/ or in the terminal with scripts/devstack.sh chat --clinic clinic-a."
    );
    Ok(())
}
