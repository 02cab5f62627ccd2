//! The PHI access audit trail: who reached a patient's data today, as the provider reads it
//! (`tenant-admin audit`), and what a clinic's roles may read of it through the API.

use anyhow::anyhow;
use devstack::DevStack;
use tenant_admin::audit::{AuditFilters, line, read_trail};
use tenant_context::ClinicId;

use crate::identity::Identities;
use crate::narrate::step;

pub async fn who_looked(
    stack: &DevStack,
    http: &reqwest::Client,
    ids: &Identities,
    clinic_admin: &str,
) -> anyhow::Result<()> {
    step("Audit trail: who looked at patient p-1001 today (clinic-a), and who may ask");
    let log = audit_trail::AuditLog::new(
        &testkit::sdk::moto_config(&stack.endpoints),
        stack.audit_group.clone(),
    );
    let midnight = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let filters = AuditFilters {
        patient: Some("p-1001".into()),
        from: Some(midnight.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        ..Default::default()
    };
    let clinic = ClinicId::parse("clinic-a")?;
    let events = read_trail(&log, &clinic, &filters, 50).await?;
    if events.is_empty() {
        return Err(anyhow!("no audit event for clinic-a's patient p-1001"));
    }
    println!(
        "    tenant-admin audit --clinic clinic-a --patient p-1001 (the provider's read; CloudWatch Logs STAND-IN on moto): {} event(s)",
        events.len()
    );
    for e in events.iter().take(4) {
        println!("      {}", line(e));
    }
    if events.iter().any(|e| e.clinic_id != "clinic-a") {
        return Err(anyhow!("another clinic's event in clinic-a's trail"));
    }
    // A clinician may not read the trail; an admin reads only its own clinic's.
    let audit = stack.api.audit_url();
    let as_user = |clinic: &str, query: &'static str| {
        let token = ids.token(clinic).map(str::to_owned);
        let url = format!("{audit}?{query}");
        async move {
            let r = http.get(url).bearer_auth(token?).send().await?;
            let status = r.status().as_u16();
            Ok::<_, anyhow::Error>((status, r.json::<serde_json::Value>().await?))
        }
    };
    let (status, body) = as_user("clinic-a", "patient=p-1001").await?;
    if status != 403 || body["error"]["code"] != "audit_not_for_role" {
        return Err(anyhow!(
            "clinic-a's clinician read the trail: {status} {body}"
        ));
    }
    println!("    clinic-a's clinician: GET /audit -> 403 audit_not_for_role (admins only)");
    let r = http
        .get(format!("{audit}?patient=p-1001"))
        .bearer_auth(clinic_admin)
        .send()
        .await?;
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await?;
    let n = body["events"].as_array().map_or(0, Vec::len);
    if status != 200 || body["clinic_id"] != "clinic-a" || n == 0 {
        return Err(anyhow!("clinic-a's administrator got {status}: {body}"));
    }
    println!(
        "    clinic-a's administrator ({}): GET /audit?patient=p-1001 -> 200, {n} event(s), the same trail",
        crate::users::CLINIC_A_ADMIN
    );
    let admin = stack
        .users
        .iter()
        .find(|u| u.role == "admin")
        .ok_or_else(|| anyhow!("no demo admin"))?;
    let (status, body) = as_user(&admin.clinic_id, "clinic=clinic-a").await?;
    if status != 400 {
        return Err(anyhow!(
            "an admin named another clinic and got {status}: {body}"
        ));
    }
    println!(
        "    {}'s admin: GET /audit?clinic=clinic-a -> 400 ({})",
        admin.clinic_id,
        body["error"]["message"].as_str().unwrap_or("?")
    );
    let (status, body) = as_user(&admin.clinic_id, "patient=p-1001").await?;
    let n = body["events"].as_array().map_or(0, Vec::len);
    if status != 200 || body["clinic_id"] != admin.clinic_id.as_str() || n != 0 {
        return Err(anyhow!("{}'s admin got {status}: {body}", admin.clinic_id));
    }
    println!(
        "    {}'s admin: GET /audit?patient=p-1001 -> 200, its own trail: {n} event(s) (clinic-a's are not reachable)",
        admin.clinic_id
    );
    Ok(())
}
