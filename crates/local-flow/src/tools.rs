//! The tool target called directly, as AgentCore Gateway calls it (event and client context),
//! and cross-tenant attempts at that layer.

use serde_json::Value;

use crate::error::FlowError;
use crate::tour::step;

/// One tool call through the Lambda stand-in, shaped as AgentCore Gateway sends it: the
/// arguments as the event, the tool name and the propagated headers in the client context
/// (the Gateway emulation's own Lambda backend).
async fn call_tool(
    lambda: &aws_sdk_lambda::Client,
    target: &str,
    tool: &str,
    headers: &Value,
    args: Value,
) -> Result<Value, FlowError> {
    use standins::gateway::{LambdaBackend, TargetCall, ToolBackend as _};
    let backend = LambdaBackend {
        client: lambda.clone(),
        function: "tool-target".into(),
    };
    backend
        .invoke(TargetCall {
            arguments: args,
            client_context: serde_json::json!({
                "bedrockAgentCoreToolName": format!("{target}___{tool}"),
                "bedrockAgentCoreGatewayId": "local-gateway",
                "bedrockAgentCoreMcpMessageId": "1",
                "bedrockAgentCorePropagatedHeaders": headers,
            }),
        })
        .await
        .map_err(|what| FlowError::Unexpected {
            what: format!("tool-target call failed: {what}"),
        })
}

fn tenant_headers(token: &str, tier: &str, clinic: &str) -> Value {
    serde_json::json!({
        "X-Id-Token": token,
        "X-Tier": tier,
        "X-Clinic-ID": clinic,
        "X-S3-Prefix": format!("{tier}-tier/{clinic}/"),
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
    token_a: &str,
    token_x: &str,
    token_y: &str,
    token_admin_w: &str,
) -> Result<(), FlowError> {
    step("Tool target: each tool as clinic-a's user (basic), then hospital-x's (premium)");
    let a = tenant_headers(token_a, "basic", "clinic-a");
    let x = tenant_headers(token_x, "premium", "hospital-x");
    let basic = "tenantry-basic-tools";
    let premium = "tenantry-premium-tools";
    for (tool, args) in [
        ("current_time", serde_json::json!({})),
        ("clinic_config", serde_json::json!({})),
        (
            "patient_context",
            serde_json::json!({"patient_id": "p-1001"}),
        ),
    ] {
        let reply = call_tool(lambda, basic, tool, &a, args).await?;
        println!("    clinic-a    {tool:<16} {}", summary(&reply));
    }
    println!(
        "                (basic tier: patient_context only 08:00-18:00 clinic time, by the server clock)"
    );
    let reply = call_tool(
        lambda,
        premium,
        "patient_context",
        &x,
        serde_json::json!({"limit": 2}),
    )
    .await?;
    println!("    hospital-x  patient_context  {}", summary(&reply));
    let page_token = reply["next_token"]
        .as_str()
        .ok_or_else(|| {
            crate::error::unexpected(format!("hospital-x's first page should continue: {reply}"))
        })?
        .to_owned();
    let y = tenant_headers(token_y, "premium", "hospital-y");

    let admin_w = tenant_headers(token_admin_w, "premium", "onco-institute-w");

    step("Cross-tenant and out-of-role attempts (each must be refused)");
    let mut forged = a.clone();
    forged["X-Clinic-ID"] = "clinic-b".into();
    forged["X-S3-Prefix"] = "basic-tier/clinic-b/".into();
    let attempts = [
        (
            "clinic-a's token with X-Clinic-ID: clinic-b",
            basic,
            "clinic_config",
            forged,
            serde_json::json!({}),
        ),
        (
            "clinic-a's token on the premium target",
            premium,
            "clinic_config",
            a.clone(),
            serde_json::json!({}),
        ),
        (
            "hospital-x asking for clinic-b's patient p-2001",
            premium,
            "patient_context",
            x.clone(),
            serde_json::json!({"patient_id": "p-2001"}),
        ),
        (
            "hospital-y replaying hospital-x's page token",
            premium,
            "patient_context",
            y,
            serde_json::json!({"limit": 2, "next_token": page_token}),
        ),
        (
            "onco-institute-w's admin asking for patients",
            premium,
            "patient_context",
            admin_w,
            serde_json::json!({"limit": 2}),
        ),
    ];
    for (what, target, tool, headers, args) in attempts {
        let reply = call_tool(lambda, target, tool, &headers, args).await?;
        if reply.get("error").is_none() {
            return Err(FlowError::Unexpected {
                what: format!("a cross-tenant attempt was not refused: {what}"),
            });
        }
        println!("    {what:<48} {}", summary(&reply));
    }
    Ok(())
}
