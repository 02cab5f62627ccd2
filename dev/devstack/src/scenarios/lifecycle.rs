//! A clinic's life as the provider operates it, by `tenant-admin`'s own code on this stack: a
//! tier change, and a clinic that leaves (export, then purge).

use std::time::Duration;

use super::Scenario;
use crate::client::ask;
use crate::{DevStack, StackError};

/// The registry answer is cached for a second on the devstack (a minute when deployed).
const REGISTRY_CACHE: Duration = Duration::from_millis(1500);

/// Who a lifecycle scenario is about: the clinic, a question about its own data, and a
/// tier-mate that must stay untouched.
#[derive(Debug, Clone, Copy)]
pub struct Cast<'a> {
    pub clinic: &'a str,
    pub question: &'a str,
    pub mate: &'a str,
}

/// The scenario titled `title`, the API's URL and the clinic's token.
async fn begin(
    stack: &DevStack,
    title: String,
    clinic: &str,
) -> Result<(Scenario, String, String), StackError> {
    Ok((
        Scenario::new(title),
        stack.api.invoke_url(),
        stack.sign_in(clinic).await?,
    ))
}

/// The tier-mate asks; it must be answered.
async fn mate_is_served(
    s: &mut Scenario,
    stack: &DevStack,
    http: &reqwest::Client,
    mate: &str,
) -> Result<(), StackError> {
    let token = stack.sign_in(mate).await?;
    let m = ask(
        http,
        &stack.api.invoke_url(),
        &token,
        "What is our timezone?",
        None,
        &[],
    )
    .await?;
    s.show(
        m.status == 200,
        format!("{mate}, a tier-mate: HTTP {} (untouched)", m.status),
    );
    Ok(())
}

fn admin_failed(what: &str) -> impl FnOnce(tenant_admin::AdminError) -> StackError + '_ {
    move |e| StackError::Setup {
        what: format!("tenant-admin {what}: {e}"),
    }
}

/// The clinic (basic) moves to premium with `change-tier`: its old basic token and session are
/// refused afterwards, a new sign-in carries premium and the premium agent answers the question
/// from the clinic's documents, moved with it; the mate, on basic, is untouched.
pub async fn tier_change(
    stack: &DevStack,
    http: &reqwest::Client,
    cast: &Cast<'_>,
) -> Result<Scenario, StackError> {
    let (clinic, question, mate) = (cast.clinic, cast.question, cast.mate);
    let title = format!("Tier change: {clinic} upgrades to premium (tenant-admin change-tier)");
    let (mut s, url, basic) = begin(stack, title, clinic).await?;
    let before = ask(http, &url, &basic, "What is our timezone?", None, &[]).await?;
    let session = before.session.clone().unwrap_or_default();
    s.show(
        before.status == 200 && !session.is_empty(),
        format!(
            "{clinic} (basic) asks: HTTP {}, session {}",
            before.status,
            tenant_context::RuntimeSessionId::parse(&session)
                .map(|s| tenant_context::session_log_id(&s))
                .unwrap_or_default()
        ),
    );
    s.show(
        true,
        format!("tenant-admin change-tier --clinic {clinic} --tier premium"),
    );
    let lines = stack
        .change_tier(clinic, "premium")
        .await
        .map_err(admin_failed("change-tier"))?;
    let moved = lines.iter().any(|l| l.contains("moved from s3://"));
    for line in lines {
        s.show(true, format!("  {line}"));
    }
    s.show(moved, "(the clinic's documents moved with it)");
    tokio::time::sleep(REGISTRY_CACHE).await;
    let mut refusals = Vec::new();
    for with in [Some(session.as_str()), None] {
        let old = ask(http, &url, &basic, "What is our timezone?", with, &[]).await?;
        refusals.push((
            old.status,
            old.body["error"]["code"]
                .as_str()
                .or(old.body["message"].as_str())
                .unwrap_or("")
                .to_owned(),
        ));
    }
    s.show(
        refusals.iter().all(|(status, _)| *status == 403),
        format!(
            "the old basic token, with its session and in a new one: HTTP {} {} / HTTP {} {} (the registry names premium now)",
            refusals[0].0, refusals[0].1, refusals[1].0, refusals[1].1
        ),
    );
    let premium = stack.sign_in(clinic).await?;
    let after = ask(http, &url, &premium, question, None, &[]).await?;
    let text = after.body.to_string();
    s.show(
        after.status == 200
            && text.contains(&format!("premium-tier/{clinic}/"))
            && !text.contains(&format!("basic-tier/{clinic}/")),
        format!(
            "signed in again (custom:tier premium): \"{question}\" -> HTTP {} from the premium agent, its documents found under premium-tier/{clinic}/\n        {}",
            after.status,
            crate::reply::describe(&after.body)
        ),
    );
    mate_is_served(&mut s, stack, http, mate).await?;
    Ok(s)
}

/// The clinic leaves: it asks the question about its patient, `export` writes its data,
/// `offboard --purge` erases it; its token is refused, its user cannot sign in, the mate is
/// served; exported again, nothing of it is left but its audit trail and usage rows (kept by
/// design); onboarding the id again is refused, and with `--reuse-id` too while its old users'
/// ID tokens may still verify.
pub async fn clinic_leaves(
    stack: &DevStack,
    http: &reqwest::Client,
    cast: &Cast<'_>,
) -> Result<Scenario, StackError> {
    let (clinic, question, mate) = (cast.clinic, cast.question, cast.mate);
    let title =
        format!("Offboarding: {clinic} leaves (tenant-admin export, then offboard --purge)");
    let (mut s, url, token) = begin(stack, title, clinic).await?;
    let asked = ask(http, &url, &token, question, None, &[]).await?;
    s.show(
        asked.status == 200,
        format!("{clinic} asks \"{question}\": HTTP {}", asked.status),
    );

    let folder = format!("export-{clinic}");
    s.show(
        true,
        format!("tenant-admin export --clinic {clinic} --to <run dir>/{folder}"),
    );
    let (lines, before) = stack
        .export(clinic, &stack.options.run_dir.join(&folder))
        .await
        .map_err(admin_failed("export"))?;
    for line in lines {
        s.show(true, format!("  {line}"));
    }
    let documents = |e: &tenant_admin::export::Exported| {
        e.files
            .iter()
            .filter(|f| f.path.starts_with("documents/"))
            .count()
    };
    let memory = |e: &tenant_admin::export::Exported, what: &str| {
        ["basic", "premium"]
            .iter()
            .map(|t| e.records(&format!("memory/{t}/{what}.jsonl")))
            .sum::<usize>()
    };
    s.show(
        before.records("patients.jsonl") > 0
            && documents(&before) > 0
            && memory(&before, "events") > 0
            && before.records("audit.jsonl") > 0,
        "(the export holds its patient rows, documents, memory and audit trail)",
    );

    s.show(
        true,
        format!("tenant-admin offboard --purge --yes ({clinic})"),
    );
    let lines = stack
        .offboard(clinic, true)
        .await
        .map_err(admin_failed("offboard --purge"))?;
    for line in lines {
        s.show(true, format!("  {line}"));
    }
    tokio::time::sleep(REGISTRY_CACHE).await;
    let refused = ask(http, &url, &token, question, None, &[]).await?;
    s.show(
        refused.status == 403,
        format!(
            "{clinic}'s token afterwards: HTTP {} (the registry holds a tombstone, status purged)",
            refused.status
        ),
    );
    let signed_in = stack.sign_in(clinic).await.is_ok();
    s.show(
        !signed_in,
        format!(
            "{clinic}'s user signs in: {}",
            if signed_in {
                "signed in"
            } else {
                "refused (deleted)"
            }
        ),
    );
    mate_is_served(&mut s, stack, http, mate).await?;

    let (_, after) = stack
        .export(
            clinic,
            &stack.options.run_dir.join(format!("{folder}-after")),
        )
        .await
        .map_err(admin_failed("export"))?;
    s.show(
        after.records("patients.jsonl") == 0
            && documents(&after) == 0
            && memory(&after, "events") == 0
            && memory(&after, "records") == 0
            && after.records("audit.jsonl") > 0
            && after.records("usage.jsonl") > 0,
        format!(
            "exported again: {} patient rows, {} documents, {} memory events and {} records (were {}, {}, {} and {}); kept by design: {} audit event(s), {} usage row(s)",
            after.records("patients.jsonl"),
            documents(&after),
            memory(&after, "events"),
            memory(&after, "records"),
            before.records("patients.jsonl"),
            documents(&before),
            memory(&before, "events"),
            memory(&before, "records"),
            after.records("audit.jsonl"),
            after.records("usage.jsonl"),
        ),
    );

    for reuse in [false, true] {
        let flag = if reuse { " --reuse-id" } else { "" };
        match stack.onboard_again(clinic, reuse).await {
            Ok(_) => s.show(
                false,
                format!("tenant-admin onboard{flag} ({clinic} again): onboarded"),
            ),
            Err(e) => {
                let expected = if reuse {
                    "ID tokens may still verify"
                } else {
                    "--reuse-id"
                };
                s.show(
                    e.to_string().contains(expected),
                    format!("tenant-admin onboard{flag} ({clinic} again): refused: {e}"),
                );
            }
        }
    }
    Ok(s)
}
