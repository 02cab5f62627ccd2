//! Usage plans: a basic clinic bursting past its plan is throttled by API Gateway, while a
//! clinic of the same tier, on its own API key, is not.

use devstack::DevStack;
use devstack::client::ask;

use crate::error::{FlowError, unexpected};
use crate::identity::Identities;
use crate::tour::step;

pub async fn burst(
    stack: &DevStack,
    http: &reqwest::Client,
    ids: &Identities,
) -> Result<(), FlowError> {
    let catalog = tenant_context::TierCatalog::embedded()?;
    let basic = catalog.config(&catalog.tier("basic")?)?;
    let (rate, burst) = (basic.usage_plan.rate_limit, basic.usage_plan.burst_limit);
    let sent = burst as usize + 3;
    step(&format!(
        "Limits: clinic-b (basic: {rate} req/s, burst {burst}) sends {sent} requests at once; clinic-c, same tier, is unaffected"
    ));
    let url = stack.api.invoke_url();
    let token_b = ids.token("clinic-b")?.to_owned();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..sent {
        let (http, url, token) = (http.clone(), url.clone(), token_b.clone());
        set.spawn(async move {
            ask(
                &http,
                &url,
                &token,
                "What are our opening hours?",
                None,
                &[],
            )
            .await
        });
    }
    let (mut ok, mut throttled) = (0, 0);
    while let Some(r) = set.join_next().await {
        let a = r.map_err(|e| unexpected(format!("a request task failed: {e}")))??;
        match (a.status, a.gateway_error.as_deref()) {
            (200, _) => ok += 1,
            (429, Some("TooManyRequestsException")) => throttled += 1,
            (s, kind) => {
                return Err(unexpected(format!(
                    "clinic-b's burst: unexpected HTTP {s} {kind:?} {}",
                    a.body
                )));
            }
        }
    }
    println!(
        "    clinic-b: {ok} answered, {throttled} refused with HTTP 429 TooManyRequestsException {{\"message\":\"Too Many Requests\"}} (its usage plan, at API Gateway)"
    );
    if throttled == 0 || ok < burst as usize {
        return Err(unexpected(format!(
            "the burst should pass {burst} and throttle the rest: {ok} passed, {throttled} throttled"
        )));
    }
    let c = ask(
        http,
        &url,
        ids.token("clinic-c")?,
        "What are our opening hours?",
        None,
        &[],
    )
    .await?;
    println!(
        "    clinic-c right after: HTTP {} (its own key, its own bucket)",
        c.status
    );
    if c.status != 200 {
        return Err(unexpected(format!(
            "a tier-mate must not be throttled by clinic-b's burst: {} {}",
            c.status, c.body
        )));
    }
    Ok(())
}
