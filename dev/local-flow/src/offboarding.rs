//! The tour's last tenant step: clinic-b leaves. Its data is exported, then purged; its token
//! is refused, a second export finds nothing of it but what is kept by design (the audit trail
//! and the usage rows), and its id is not onboarded again without --reuse-id.

use anyhow::anyhow;
use devstack::DevStack;
use devstack::client::ask;

use crate::narrate::step;

const CLINIC: &str = "clinic-b";

pub async fn clinic_leaves(
    stack: &DevStack,
    http: &reqwest::Client,
    token: &str,
) -> anyhow::Result<()> {
    step("Offboarding: clinic-b leaves (tenant-admin export, then offboard --purge)");
    let url = stack.api.invoke_url();
    let asked = ask(
        http,
        &url,
        token,
        "What do the visit notes say about p-2001?",
        None,
        &[],
    )
    .await?;
    println!(
        "    clinic-b asks about its patient p-2001: HTTP {}",
        asked.status
    );

    let first = stack.options.run_dir.join("export-clinic-b");
    let cwd = std::env::current_dir().unwrap_or_default();
    println!(
        "    tenant-admin export --clinic clinic-b --to {}",
        first.strip_prefix(&cwd).unwrap_or(&first).display()
    );
    let (lines, before) = stack.export(CLINIC, &first).await?;
    for line in &lines {
        println!("      {line}");
    }
    if before.records("patients.jsonl") == 0
        || !before
            .files
            .iter()
            .any(|f| f.path.starts_with("documents/"))
        || before.records("audit.jsonl") == 0
    {
        return Err(anyhow!(
            "the export holds no patient rows, documents or audit events of clinic-b: {:?}",
            before.files
        ));
    }

    println!("    tenant-admin offboard --purge --yes (clinic-b)");
    for line in stack.offboard(CLINIC, true).await? {
        println!("      {line}");
    }
    // The registry answer is cached for a second on this stack (a minute when deployed).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let refused = ask(http, &url, token, "Who is p-2001?", None, &[]).await?;
    if refused.status != 403 {
        return Err(anyhow!(
            "clinic-b was served after its purge: {} {}",
            refused.status,
            refused.body
        ));
    }
    println!(
        "    clinic-b's token afterwards: HTTP {} (the registry holds a tombstone, status purged)",
        refused.status
    );

    let second = stack.options.run_dir.join("export-clinic-b-after");
    let (_, after) = stack.export(CLINIC, &second).await?;
    let erased = [
        "patients.jsonl",
        "memory/basic/events.jsonl",
        "memory/basic/records.jsonl",
        "memory/premium/events.jsonl",
        "memory/premium/records.jsonl",
    ];
    let left: Vec<String> = erased
        .iter()
        .filter(|f| after.records(f) > 0)
        .map(|f| format!("{f}: {}", after.records(f)))
        .chain(
            after
                .files
                .iter()
                .filter(|f| f.path.starts_with("documents/"))
                .map(|f| f.path.clone()),
        )
        .collect();
    if !left.is_empty() {
        return Err(anyhow!("the purge left clinic-b's data: {left:?}"));
    }
    println!(
        "    exported again: 0 patient rows, 0 documents, 0 memory events and records (were {}, {}, {} and {}); kept by design: {} audit event(s), {} usage row(s)",
        before.records("patients.jsonl"),
        before
            .files
            .iter()
            .filter(|f| f.path.starts_with("documents/"))
            .count(),
        before.records("memory/basic/events.jsonl") + before.records("memory/premium/events.jsonl"),
        before.records("memory/basic/records.jsonl")
            + before.records("memory/premium/records.jsonl"),
        after.records("audit.jsonl"),
        after.records("usage.jsonl"),
    );

    match stack.onboard_again(CLINIC, false).await {
        Ok(_) => Err(anyhow!(
            "clinic-b's purged id was onboarded again without --reuse-id"
        )),
        Err(e) if e.to_string().contains("--reuse-id") => {
            println!("    tenant-admin onboard (clinic-b again): refused: {e}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
