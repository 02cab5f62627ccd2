//! One user of an onboarded clinic: add, disable, enable, remove, change role. The clinic's
//! tier comes from its registry row, never from the operator; a user of another clinic is
//! never touched.
//!
//! A role change (and a removal) erases what the user's conversations left in their tier's
//! AgentCore Memory: events and long-term records are keyed by tier, clinic and user, not by
//! role, so a nurse made admin would otherwise keep every clinical fact recalled for them.
//! Every step reports a line; every change can be run again and finishes what an interrupted
//! run left (a role already set is confirmed, the erasure runs again).

use tenant_context::{ClinicId, Role, TierCatalog, TierName};
use tenant_registry::TenantStatus;

use crate::apply::{
    Clients, PoolUser, delete_user, enable_user, ensure_user, find_user, set_user_attribute,
    sign_out, sign_out_and_disable,
};
use crate::memory::{TierMemory, memory_owner};
use crate::{AdminError, Targets, TenantUser};

/// What to do to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// Create the user (an invitation e-mail, or a generated password for a test stack).
    Add {
        user: TenantUser,
        test_password: bool,
    },
    /// Sign out everywhere and disable; a resume of the clinic will not enable it again.
    Disable,
    /// Enable again (not while the clinic is suspended: its resume does that).
    Enable,
    /// Sign out, erase its memory, delete it.
    Remove,
    /// Set the role, sign out everywhere, erase its memory.
    SetRole { role: Role },
}

/// One change to one user of one clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRequest {
    pub clinic: ClinicId,
    pub username: String,
    pub change: UserChange,
}

impl UserRequest {
    /// The steps a run takes, for `--dry-run`.
    pub fn describe(&self, targets: &Targets) -> Vec<String> {
        let (pool, registry) = (&targets.user_pool_id, &targets.registry_table);
        let user = &self.username;
        let clinic = &self.clinic;
        let mut steps = vec![format!(
            "read {clinic}'s tier and status from {registry} (refused if not onboarded)"
        )];
        let memory = format!(
            "erase {user}'s events and long-term records in their tier's memory ({})",
            targets
                .memories
                .values()
                .cloned()
                .collect::<Vec<_>>()
                .join(" or ")
        );
        match &self.change {
            UserChange::Add {
                user: u,
                test_password,
            } => steps.push(format!(
                "create user {user} <{}> in {pool} as {} of {clinic} ({}; refused while the clinic is suspended)",
                u.email,
                u.role,
                if *test_password {
                    "generated password, test stack only"
                } else {
                    "invitation e-mailed"
                }
            )),
            UserChange::Disable => {
                steps.push(format!("sign {user} out everywhere and disable it in {pool}"));
                steps.push(format!(
                    "take {user} out of the users a resume of {clinic} enables"
                ));
            }
            UserChange::Enable => steps.push(format!(
                "enable {user} in {pool} (refused while {clinic} is suspended)"
            )),
            UserChange::Remove => {
                steps.push(format!("sign {user} out everywhere and disable it"));
                steps.push(memory);
                steps.push(format!("delete {user} from {pool}"));
                steps.push(format!(
                    "take {user} out of the users a resume of {clinic} enables"
                ));
            }
            UserChange::SetRole { role } => {
                steps.push(format!("set {user}'s custom:role to {role} in {pool}"));
                steps.push(format!(
                    "sign {user} out everywhere (tokens of the old role end within 15 minutes)"
                ));
                steps.push(memory);
            }
        }
        steps
    }
}

/// What a run produced that the caller may need.
#[derive(Debug, Clone, Default)]
pub struct UserOutcome {
    /// The generated password of a test user added now.
    pub password: Option<String>,
}

/// Runs `request`; `report` gets one line per step.
pub async fn apply_user(
    request: &UserRequest,
    clients: &Clients,
    targets: &Targets,
    tiers: &TierCatalog,
    report: &mut dyn FnMut(String),
) -> Result<UserOutcome, AdminError> {
    let (clinic, username) = (&request.clinic, request.username.as_str());
    let pool = targets.user_pool_id.as_str();
    let registry = clients.registry(&targets.registry_table);
    let row = registry.get(clinic).await?.ok_or_else(|| {
        tenant_registry::RegistryError::NotOnboarded {
            clinic: clinic.to_string(),
        }
    })?;
    let tier = tiers.tier(&row.tier)?;
    report(format!("{clinic}: {tier} tier, {}", row.status));
    let suspended = |what: &str| {
        AdminError::Conflict(format!(
            "{clinic} is suspended: {what} once it is resumed (set-status --status active)"
        ))
    };
    let mut outcome = UserOutcome::default();
    match &request.change {
        UserChange::Add {
            user,
            test_password,
        } => {
            if row.status != TenantStatus::Active {
                return Err(suspended("add the user"));
            }
            if *test_password && !targets.test_stack {
                return Err(AdminError::NotATestStack);
            }
            let (note, password) =
                ensure_user(clients, (clinic, &tier), pool, user, *test_password).await?;
            report(format!("user {username}: {note}"));
            outcome.password = password;
        }
        UserChange::Disable => {
            of_clinic(clients, pool, clinic, username).await?;
            sign_out_and_disable(clients, pool, username).await?;
            report(format!(
                "user {username}: signed out everywhere and disabled"
            ));
            registry.forget_suspended_user(clinic, username).await?;
            report(format!(
                "user {username}: stays disabled when {clinic} is resumed"
            ));
        }
        UserChange::Enable => {
            if row.status != TenantStatus::Active {
                return Err(suspended(
                    "its resume enables the users its suspension disabled; enable others",
                ));
            }
            of_clinic(clients, pool, clinic, username).await?;
            enable_user(clients, pool, username).await?;
            report(format!("user {username}: enabled"));
        }
        UserChange::Remove => {
            let Some(user) = find_user(clients, pool, username).await? else {
                report(format!(
                    "user {username}: already absent (its memory cannot be found without it)"
                ));
                registry.forget_suspended_user(clinic, username).await?;
                return Ok(outcome);
            };
            check_clinic(&user, clinic, username)?;
            sign_out_and_disable(clients, pool, username).await?;
            report(format!(
                "user {username}: signed out everywhere and disabled"
            ));
            erase_memory(
                clients, targets, tiers, clinic, &tier, &user, username, report,
            )
            .await?;
            delete_user(clients, pool, username).await?;
            report(format!("user {username}: deleted"));
            registry.forget_suspended_user(clinic, username).await?;
        }
        UserChange::SetRole { role } => {
            if !tiers.roles().any(|(r, _)| r == role) {
                return Err(AdminError::Conflict(format!(
                    "{role} is not a role of infra/tiers.json"
                )));
            }
            let user = of_clinic(clients, pool, clinic, username).await?;
            if user.role.as_deref() == Some(role.as_str()) {
                report(format!("user {username}: already {role}"));
            } else {
                set_user_attribute(
                    clients,
                    pool,
                    username,
                    tenant_context::CLAIM_ROLE,
                    role.as_str(),
                )
                .await?;
                report(format!(
                    "user {username}: role {} -> {role}",
                    user.role.as_deref().unwrap_or("(none)")
                ));
            }
            sign_out(clients, pool, username).await?;
            report(format!(
                "user {username}: signed out everywhere (ID tokens of the old role end within 15 minutes)"
            ));
            erase_memory(
                clients, targets, tiers, clinic, &tier, &user, username, report,
            )
            .await?;
        }
    }
    Ok(outcome)
}

/// The user, if it is `clinic`'s; an error naming what is wrong otherwise.
async fn of_clinic(
    clients: &Clients,
    pool: &str,
    clinic: &ClinicId,
    username: &str,
) -> Result<PoolUser, AdminError> {
    let user = find_user(clients, pool, username)
        .await?
        .ok_or_else(|| AdminError::Conflict(format!("there is no user {username} in the pool")))?;
    check_clinic(&user, clinic, username)?;
    Ok(user)
}

fn check_clinic(user: &PoolUser, clinic: &ClinicId, username: &str) -> Result<(), AdminError> {
    match user.clinic.as_deref() {
        Some(c) if c == clinic.as_str() => Ok(()),
        other => Err(AdminError::Conflict(format!(
            "user {username} belongs to {}, not {clinic}: not changed",
            other.unwrap_or("no clinic")
        ))),
    }
}

/// Erases the user's memory in the clinic's tier, and in the tier its token names when that
/// differs (a tier change in between): wherever its actor can have written.
#[allow(clippy::too_many_arguments)]
async fn erase_memory(
    clients: &Clients,
    targets: &Targets,
    tiers: &TierCatalog,
    clinic: &ClinicId,
    clinic_tier: &TierName,
    user: &PoolUser,
    username: &str,
    report: &mut dyn FnMut(String),
) -> Result<(), AdminError> {
    let sub = user
        .sub
        .as_deref()
        .ok_or_else(|| AdminError::Conflict(format!("user {username} has no sub")))?;
    let mut where_ = vec![clinic_tier.clone()];
    if let Some(t) = user.tier.as_deref().and_then(|t| tiers.tier(t).ok())
        && t != *clinic_tier
    {
        where_.push(t);
    }
    for tier in where_ {
        let memory_id = targets
            .memories
            .get(&tier)
            .ok_or_else(|| AdminError::MissingOutput(format!("the memory id of tier {tier}")))?;
        let who = memory_owner(&tier, clinic, sub)?;
        let purged = TierMemory {
            client: &clients.memory,
            memory_id,
        }
        .purge(&who, tiers.config(&tier)?)
        .await?;
        report(format!(
            "user {username}: {} event(s) and {} long-term record(s) erased from {tier} memory {memory_id}",
            purged.events, purged.records
        ));
    }
    Ok(())
}
