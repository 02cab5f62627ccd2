//! A provider's week with one clinic's users, by `tenant-admin user`'s own code: clinic-a gets
//! an administrator (who then reads the clinic's audit trail), and hospital-x's nurse becomes
//! an administrator, taking nothing of the nurse's conversations along.

use anyhow::{Context as _, anyhow};
use devstack::DevStack;
use devstack::client::ask;
use tenant_admin::users::{UserChange, UserRequest};
use tenant_context::{ClinicId, Role};

use crate::narrate::step;

/// clinic-a's administrator, added by the tour.
pub const CLINIC_A_ADMIN: &str = "office.manager@clinic-a.example";

/// Adds clinic-a's administrator; returns its ID token.
pub async fn add_clinic_admin(stack: &DevStack) -> anyhow::Result<String> {
    step("Users: clinic-a gets an administrator (tenant-admin user add)");
    let tiers = tenant_context::TierCatalog::embedded()?;
    let user = tenant_admin::TenantUser::new(CLINIC_A_ADMIN.into(), "admin", None, &tiers)
        .map_err(|e| anyhow!(e))?;
    let request = UserRequest {
        clinic: ClinicId::parse("clinic-a")?,
        username: CLINIC_A_ADMIN.into(),
        change: UserChange::Add {
            user,
            test_password: true,
        },
    };
    println!(
        "    tenant-admin user add --clinic clinic-a --username {CLINIC_A_ADMIN} --role admin --test-password FILE"
    );
    let (lines, outcome) = stack.user_change(&request).await?;
    for line in lines {
        println!("      {line}");
    }
    let password = outcome
        .password
        .ok_or_else(|| anyhow!("no generated password"))?;
    let token = stack
        .pool
        .sign_in(CLINIC_A_ADMIN, &password)
        .await
        .context("sign in as clinic-a's administrator")?;
    println!("    {CLINIC_A_ADMIN} signs in: an ID token with custom:role admin");
    Ok(token)
}

/// hospital-x's nurse tells the assistant something, is made an administrator, and asks for
/// it back: the erasure took it, and the colleague's memory is untouched.
pub async fn nurse_made_admin(stack: &DevStack, http: &reqwest::Client) -> anyhow::Result<()> {
    step("Users: hospital-x's nurse becomes an administrator (tenant-admin user set-role)");
    let (clinic, nurse, _) = devstack::setup::COLLEAGUE;
    let url = stack.api.invoke_url();
    let told = "Remember that the insulin pump of bed 4 was replaced";
    let token = stack.sign_in_as(nurse).await?;
    let r = ask(http, &url, &token, told, None, &[]).await?;
    if r.status != 200 {
        return Err(anyhow!(
            "the nurse was not answered: {} {}",
            r.status,
            r.body
        ));
    }
    let held = |needle: &str| {
        stack
            .assistant
            .memory
            .records()
            .iter()
            .filter(|(_, text)| text.contains(needle))
            .count()
    };
    println!(
        "    the nurse: \"{told}\" -> kept in memory ({} long-term record(s) mention it)",
        held("insulin pump")
    );
    let request = UserRequest {
        clinic: ClinicId::parse(clinic)?,
        username: nurse.into(),
        change: UserChange::SetRole {
            role: Role::parse("admin")?,
        },
    };
    println!("    tenant-admin user set-role --clinic {clinic} --username {nurse} --role admin");
    let (lines, _) = stack.user_change(&request).await?;
    for line in lines {
        println!("      {line}");
    }
    if held("insulin pump") != 0 {
        return Err(anyhow!("the nurse's records outlived the role change"));
    }
    let admin = stack.sign_in_as(nurse).await?;
    let r = ask(
        http,
        &url,
        &admin,
        "What did I tell you earlier?",
        None,
        &[],
    )
    .await?;
    if r.status != 200 || r.body.to_string().contains("insulin pump") {
        return Err(anyhow!("after the role change: {} {}", r.status, r.body));
    }
    println!(
        "    signed in again (role admin), \"What did I tell you earlier?\" -> nothing of the nurse's conversations: {}",
        r.body["answer"]
            .as_str()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("")
    );
    Ok(())
}
