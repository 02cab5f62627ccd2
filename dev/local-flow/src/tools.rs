//! The tool target called directly, as AgentCore Gateway calls it (event and client context),
//! and cross-tenant attempts at that layer.

use anyhow::anyhow;
use std::collections::BTreeMap;

use contracts::ToolCallContext;
use serde_json::Value;
use tenant_context::TierCatalog;

use crate::identity::Identities;
use crate::narrate::step;

/// One tool call through the Lambda stand-in, shaped as AgentCore Gateway sends it: the
/// arguments as the event, the tool name and the propagated headers in the client context
/// (the Gateway emulation's own Lambda backend).
async fn call_tool(
    lambda: &aws_sdk_lambda::Client,
    target: &str,
    tool: &str,
    headers: &Headers,
    args: Value,
) -> anyhow::Result<Value> {
    use emulators::gateway::{LambdaBackend, TargetCall, ToolBackend as _};
    let backend = LambdaBackend {
        client: lambda.clone(),
        function: "tool-target".into(),
    };
    backend
        .invoke(TargetCall {
            arguments: args,
            client_context: ToolCallContext {
                gateway_id: Some("local-gateway".into()),
                mcp_message_id: Some("1".into()),
                ..ToolCallContext::new(target, tool, headers.clone())
            },
        })
        .await
        .map_err(|what| anyhow!("tool-target call failed: {what}"))
}

/// A clinic's user as the Gateway calls the target: its ID token and the tenant headers its
/// verified context derives, and the Gateway target of its tier (from the tier catalog).
/// Propagated headers, by name.
type Headers = BTreeMap<String, String>;

struct Caller {
    headers: Headers,
    target: String,
}

fn caller(ids: &Identities, catalog: &TierCatalog, clinic: &str) -> anyhow::Result<Caller> {
    let ctx = ids.context(clinic)?;
    let mut headers = Headers::new();
    headers.insert(
        contracts::headers::ID_TOKEN.into(),
        ids.token(clinic)?.to_owned(),
    );
    for (name, value) in ctx.tenant_headers() {
        headers.insert(name.into(), value);
    }
    Ok(Caller {
        headers,
        target: catalog.config(ctx.tier())?.gateway_target.clone(),
    })
}

/// A short, readable account of a reply (no patient details beyond names and ids).
fn summary(reply: &Value) -> String {
    if let Some(code) = reply["error"]["code"].as_str() {
        return format!(
            "refused: {code} ({})",
            reply["error"]["message"].as_str().unwrap_or("")
        );
    }
    if let Some(p) = reply.get("patient") {
        return format!(
            "patient {} {}",
            p["patient_id"].as_str().unwrap_or("?"),
            p["name"].as_str().unwrap_or("?")
        );
    }
    if let Some(ps) = reply["patients"].as_array() {
        let ids: Vec<&str> = ps.iter().filter_map(|p| p["patient_id"].as_str()).collect();
        return format!("{} patients: {}", ps.len(), ids.join(", "));
    }
    if let Some(c) = reply.get("clinic") {
        return format!(
            "{} ({}), tier {}, timezone {}",
            c["name"].as_str().unwrap_or("?"),
            c["clinic_id"].as_str().unwrap_or("?"),
            c["tier"].as_str().unwrap_or("?"),
            c["timezone"].as_str().unwrap_or("?")
        );
    }
    if let Some(t) = reply["local_time"].as_str() {
        return format!(
            "local time {t} ({})",
            reply["timezone"].as_str().unwrap_or("?")
        );
    }
    reply.to_string()
}

pub async fn call_tools(
    lambda: &aws_sdk_lambda::Client,
    ids: &Identities,
    catalog: &TierCatalog,
) -> anyhow::Result<()> {
    step("Tool target: each tool as clinic-a's user (basic), then hospital-x's (premium)");
    let a = caller(ids, catalog, "clinic-a")?;
    let x = caller(ids, catalog, "hospital-x")?;
    let y = caller(ids, catalog, "hospital-y")?;
    let admin_w = caller(ids, catalog, "onco-institute-w")?;
    for (tool, args) in [
        ("current_time", serde_json::json!({})),
        ("clinic_config", serde_json::json!({})),
        (
            "patient_context",
            serde_json::json!({"patient_id": "p-1001"}),
        ),
    ] {
        let reply = call_tool(lambda, &a.target, tool, &a.headers, args).await?;
        println!("    clinic-a    {tool:<16} {}", summary(&reply));
    }
    println!(
        "                (basic tier: patient_context only 08:00-18:00 clinic time, by the server clock)"
    );
    let reply = call_tool(
        lambda,
        &x.target,
        "patient_context",
        &x.headers,
        serde_json::json!({"limit": 2}),
    )
    .await?;
    println!("    hospital-x  patient_context  {}", summary(&reply));
    let page_token = reply["next_token"]
        .as_str()
        .ok_or_else(|| anyhow!("hospital-x's first page should continue: {reply}"))?
        .to_owned();

    step("Cross-tenant and out-of-role attempts (each must be refused)");
    // clinic-a's own token with clinic-b's tenant headers (those clinic-b's context derives).
    let b = caller(ids, catalog, "clinic-b")?;
    let mut forged = a.headers.clone();
    for (name, value) in ids.context("clinic-b")?.tenant_headers() {
        forged.insert(name.into(), value);
    }
    let attempts = [
        (
            "clinic-a's token with X-Clinic-ID: clinic-b",
            &b.target,
            "clinic_config",
            forged,
            serde_json::json!({}),
        ),
        (
            "clinic-a's token on the premium target",
            &x.target,
            "clinic_config",
            a.headers.clone(),
            serde_json::json!({}),
        ),
        (
            "hospital-x asking for clinic-b's patient p-2001",
            &x.target,
            "patient_context",
            x.headers.clone(),
            serde_json::json!({"patient_id": "p-2001"}),
        ),
        (
            "hospital-y replaying hospital-x's page token",
            &y.target,
            "patient_context",
            y.headers,
            serde_json::json!({"limit": 2, "next_token": page_token}),
        ),
        (
            "onco-institute-w's admin asking for patients",
            &admin_w.target,
            "patient_context",
            admin_w.headers,
            serde_json::json!({"limit": 2}),
        ),
    ];
    for (what, target, tool, headers, args) in attempts {
        let reply = call_tool(lambda, target, tool, &headers, args).await?;
        if reply.get("error").is_none() {
            anyhow::bail!("a cross-tenant attempt was not refused: {what}");
        }
        println!("    {what:<48} {}", summary(&reply));
    }
    Ok(())
}
