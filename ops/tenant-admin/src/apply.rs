//! Executes a plan against the stack's services. Every action checks before it changes
//! anything, so running a plan twice leaves the same state and reports "unchanged".

use aws_sdk_apigateway::types::{Op, PatchOperation};
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
// The ID token carries the user attributes under the same names the verifier reads.
use tenant_context::{CLAIM_CLINIC_ID, CLAIM_ROLE, CLAIM_TIER, ClinicId, TierName};
use tenant_registry::{TenantRegistry, TenantRow};

use crate::plan::{Action, Plan};
use crate::{AdminError, Tenant, TenantStatus, TenantUser};

/// The service clients a plan needs (built once by the caller).
#[derive(Clone)]
pub struct Clients {
    pub apigateway: aws_sdk_apigateway::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    /// AgentCore Memory's data plane (erasing a user's memory).
    pub memory: aws_sdk_bedrockagentcore::Client,
    /// The tiers' document buckets (a tier change moves a clinic's documents).
    pub s3: aws_sdk_s3::Client,
    /// The knowledge bases' syncs (StartIngestionJob) after documents moved.
    pub bedrock_agent: aws_sdk_bedrockagent::Client,
}

impl Clients {
    /// The TenantRegistry table `table`, through this DynamoDB client.
    pub fn registry(&self, table: &str) -> TenantRegistry {
        TenantRegistry::new(self.dynamodb.clone(), table)
    }

    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            apigateway: aws_sdk_apigateway::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(config),
            memory: aws_sdk_bedrockagentcore::Client::new(config),
            s3: aws_sdk_s3::Client::new(config),
            bedrock_agent: aws_sdk_bedrockagent::Client::new(config),
        }
    }
}

/// What a run produced that the caller may need.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub api_key_id: Option<String>,
    /// (username, password) of a test user whose password was set now.
    pub test_credentials: Option<(String, String)>,
}

pub async fn apply(
    plan: &Plan,
    clients: &Clients,
    report: &mut dyn FnMut(String),
) -> Result<Outcome, AdminError> {
    let tenant = &plan.tenant;
    let mut outcome = Outcome::default();
    // What the registry said before an offboarding began: a purged clinic offboarded again
    // stays `purged` (its tombstone must not claim its data was kept).
    let mut before_offboarding = None;
    for action in &plan.actions {
        match action {
            Action::EnsureApiKey { name } => {
                let (id, note) = ensure_api_key(clients, tenant, name).await?;
                report(format!("API key {name}: {note}"));
                outcome.api_key_id = Some(id);
            }
            Action::AttachToUsagePlan {
                tier,
                plan_id,
                others,
            } => {
                let key = outcome.api_key_id.as_deref().ok_or_else(|| {
                    AdminError::Conflict("the plan attaches a key before ensuring it".into())
                })?;
                let attached = attach(clients, plan_id, key).await?;
                report(format!(
                    "{tier} usage plan {plan_id}: {}",
                    if attached {
                        "key attached"
                    } else {
                        "already attached"
                    }
                ));
                for (other, other_plan) in others {
                    if detach(clients, other_plan, key).await? {
                        report(format!(
                            "{other} usage plan {other_plan}: key detached (tier change)"
                        ));
                    }
                }
            }
            Action::PutClinicRow { table } => {
                clients
                    .dynamodb
                    .put_item()
                    .table_name(table)
                    .item("clinic_id", s(tenant.clinic_id.as_str()))
                    .item("name", s(&tenant.name))
                    .item("tier", s(tenant.tier.as_str()))
                    .item("timezone", s(&tenant.timezone))
                    .send()
                    .await
                    .map_err(AdminError::aws("DynamoDB PutItem (ClinicConfig)"))?;
                report(format!("{table}: clinic row written"));
            }
            Action::PutRegistryRow {
                table,
                status,
                reuse_id,
            } => {
                let key = outcome.api_key_id.as_deref().ok_or_else(|| {
                    AdminError::Conflict(
                        "the plan writes the registry before ensuring the key".into(),
                    )
                })?;
                clients
                    .registry(table)
                    .put(
                        &TenantRow {
                            clinic_id: tenant.clinic_id.clone(),
                            tier: tenant.tier.to_string(),
                            status: *status,
                            api_key_id: key.to_owned(),
                            // A budget set with `set-budget` stays.
                            token_budget: None,
                            tier_change_to: None,
                            retired_at: None,
                        },
                        *reuse_id,
                    )
                    .await?;
                report(format!("{table}: registry row written (status {status})"));
            }
            Action::EnsureUser {
                pool,
                user,
                test_password,
            } => {
                let (note, password) = ensure_user(
                    clients,
                    (&tenant.clinic_id, &tenant.tier),
                    pool,
                    user,
                    *test_password,
                )
                .await?;
                report(format!("user {}: {note}", user.username));
                if let Some(p) = password {
                    outcome.test_credentials = Some((user.username.clone(), p));
                }
            }
            Action::CheckIdFree { table, reuse_id } => {
                let row = clients.registry(table).get(&tenant.clinic_id).await?;
                let retired_at = row.as_ref().and_then(|r| r.retired_at.clone());
                match row.map(|r| r.status) {
                    Some(status) if status.is_retired() => {
                        if !reuse_id || status == TenantStatus::Offboarding {
                            return Err(tenant_registry::RegistryError::retired(
                                &tenant.clinic_id,
                                status,
                            )
                            .into());
                        }
                        reusable_after(
                            &tenant.clinic_id,
                            retired_at.as_deref(),
                            chrono::Utc::now(),
                        )?;
                        report(format!(
                            "{table}: {} was {status}; --reuse-id: given out again",
                            tenant.clinic_id
                        ));
                    }
                    // Before the key is touched: re-attaching it to the file's tier's plan would
                    // undo part of the change.
                    Some(TenantStatus::ChangingTier) => {
                        return Err(tenant_registry::RegistryError::TierChangeRefused {
                            clinic: tenant.clinic_id.to_string(),
                            why: "a tier change is under way: finish it (change-tier) before applying a tenants file".into(),
                        }
                        .into());
                    }
                    Some(status) => report(format!("{table}: {} is {status}", tenant.clinic_id)),
                    None => report(format!("{table}: {} is a new id", tenant.clinic_id)),
                }
            }
            Action::BeginOffboarding { table } => {
                let before = clients
                    .registry(table)
                    .begin_offboarding(&tenant.clinic_id, tenant.tier.as_str())
                    .await?;
                report(format!(
                    "{table}: status offboarding (was {}): refused everywhere from here on",
                    before.map_or("not in the registry".to_owned(), |s| s.to_string())
                ));
                before_offboarding = before;
            }
            Action::EraseMemory { memories } => {
                let tiers = tenant_context::TierCatalog::embedded()?;
                for (tier, memory_id) in memories {
                    let purged = crate::memory::TierMemory {
                        client: &clients.memory,
                        memory_id,
                    }
                    .purge_clinic(tier, &tenant.clinic_id, tiers.config(tier)?)
                    .await?;
                    report(format!(
                        "{tier} memory {memory_id}: {} event(s) and {} long-term record(s) erased",
                        purged.events, purged.records
                    ));
                }
            }
            Action::EraseDocuments { documents } => {
                for (tier, docs) in documents {
                    let prefix = crate::documents::clinic_prefix(tier, &tenant.clinic_id);
                    let n =
                        crate::erasure::erase_objects(&clients.s3, &docs.bucket, &prefix).await?;
                    report(format!(
                        "s3://{}/{prefix}: {n} object version(s) deleted",
                        docs.bucket
                    ));
                }
                // Every tier's, even where nothing was left: a run stopped after the deletions
                // and before the syncs must still drop the vectors when run again.
                let sources: Vec<&crate::documents::TierDocuments> =
                    documents.iter().map(|(_, d)| d).collect();
                crate::documents::sync(
                    &clients.bedrock_agent,
                    &sources,
                    crate::documents::SyncWait::default(),
                    report,
                )
                .await?;
            }
            Action::ErasePatientRows { table } => {
                let n = crate::erasure::erase_rows(
                    &clients.dynamodb,
                    table,
                    "patient_id",
                    &tenant.clinic_id,
                )
                .await?;
                report(format!("{table}: {n} patient row(s) deleted"));
            }
            Action::DeleteClinicUsers { pool } => {
                let users = clinic_users(clients, pool, tenant.clinic_id.as_str()).await?;
                for user in &users {
                    delete_user(clients, pool, &user.username).await?;
                }
                report(format!(
                    "{} user(s) of {} deleted from {pool}",
                    users.len(),
                    tenant.clinic_id
                ));
            }
            Action::Retire { table, status } => {
                let status = match before_offboarding {
                    Some(TenantStatus::Purged) => &TenantStatus::Purged,
                    _ => status,
                };
                clients
                    .registry(table)
                    .retire(
                        &tenant.clinic_id,
                        *status,
                        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    )
                    .await?;
                report(format!(
                    "{table}: tombstone (status {status}); onboarding {} again needs --reuse-id",
                    tenant.clinic_id
                ));
            }
            Action::DeleteClinicRow { table } => {
                delete_row(clients, table, tenant, "DynamoDB DeleteItem (ClinicConfig)").await?;
                report(format!("{table}: clinic row deleted"));
            }
            Action::DisableUsers { pool } => {
                let n = disable_clinic_users(clients, pool, tenant.clinic_id.as_str()).await?;
                report(format!(
                    "{n} user(s) of {} disabled and signed out",
                    tenant.clinic_id
                ));
            }
            Action::DeleteApiKey { name } => {
                let note = match find_api_key(clients, name).await? {
                    Some((id, _)) => {
                        clients
                            .apigateway
                            .delete_api_key()
                            .api_key(&id)
                            .send()
                            .await
                            .map_err(AdminError::aws("API Gateway DeleteApiKey"))?;
                        "deleted"
                    }
                    None => "already absent",
                };
                report(format!("API key {name}: {note}"));
            }
            Action::DeleteUser { pool, username } => {
                let note = match find_user(clients, pool, username).await?.map(|u| u.clinic) {
                    None => "already absent".to_owned(),
                    Some(Some(clinic)) if clinic != tenant.clinic_id.as_str() => {
                        return Err(AdminError::Conflict(format!(
                            "user {username} belongs to {clinic}, not {}: not deleted",
                            tenant.clinic_id
                        )));
                    }
                    Some(_) => {
                        delete_user(clients, pool, username).await?;
                        "deleted".to_owned()
                    }
                };
                report(format!("user {username}: {note}"));
            }
        }
    }
    Ok(outcome)
}

/// An offboarded id may be given out again only once every ID token its old users held has
/// ended: a deleted or disabled user's token still verifies until it expires, and the
/// registry would name the clinic active again. `retired_at` is the tombstone's time; without
/// one the id is refused (fail closed).
pub fn reusable_after(
    clinic: &ClinicId,
    retired_at: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AdminError> {
    let wait = tenant_context::ID_TOKEN_LIFETIME + tenant_context::MAX_LEEWAY;
    let retired = retired_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| {
            AdminError::Conflict(format!(
                "{clinic}: the tombstone has no valid retired_at; it cannot be given out again"
            ))
        })?;
    let free_at = retired + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
    if now < free_at {
        return Err(AdminError::Conflict(format!(
            "{clinic} was offboarded at {retired}: its old users' ID tokens may still verify until {free_at}; run again with --reuse-id after that",
        )));
    }
    Ok(())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

async fn delete_row(
    clients: &Clients,
    table: &str,
    tenant: &Tenant,
    op: &'static str,
) -> Result<(), AdminError> {
    clients
        .dynamodb
        .delete_item()
        .table_name(table)
        .key("clinic_id", s(tenant.clinic_id.as_str()))
        .send()
        .await
        .map_err(AdminError::aws(op))?;
    Ok(())
}

/// (id, enabled) of the key with exactly this name; an error if several share it.
async fn find_api_key(clients: &Clients, name: &str) -> Result<Option<(String, bool)>, AdminError> {
    let mut found = Vec::new();
    let mut position = None;
    loop {
        let page = clients
            .apigateway
            .get_api_keys()
            .name_query(name)
            .include_values(false)
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(AdminError::aws("API Gateway GetApiKeys"))?;
        for key in page.items() {
            // name_query is a prefix match: keep exact names only.
            if key.name() == Some(name) {
                found.push((key.id().unwrap_or_default().to_owned(), key.enabled()));
            }
        }
        position = page.position().map(str::to_owned);
        if position.is_none() {
            break;
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => Err(AdminError::Conflict(format!(
            "{n} API keys are named {name}; delete the extra ones so the tenant has exactly one"
        ))),
    }
}

async fn ensure_api_key(
    clients: &Clients,
    tenant: &Tenant,
    name: &str,
) -> Result<(String, &'static str), AdminError> {
    let (id, outcome) = ensure_enabled_api_key(clients, tenant, name).await?;
    let current = clients
        .apigateway
        .get_api_key()
        .api_key(&id)
        .send()
        .await
        .map_err(AdminError::aws("API Gateway GetApiKey"))?;
    let tagged = key_tags(tenant)
        .iter()
        .all(|(k, v)| current.tags().and_then(|t| t.get(*k)) == Some(v));
    // Keys made before the authorizer required the tags get them here.
    if !tagged {
        tag_api_key(clients, tenant, &id).await?;
    }
    Ok((id, outcome))
}

/// The tags the authorizer requires on a tenant's key: it is read only if it is this
/// application's (IAM, `aws:ResourceTag/Application`) and accepted only for the tenant its
/// `ClinicId` names. Neither changes during a tenant's life (the tier is the registry's and
/// the usage plan's business, so a tier change needs no retagging).
fn key_tags(tenant: &Tenant) -> [(&'static str, String); 2] {
    tenant_context::api_key_tags(&tenant.clinic_id)
}

async fn tag_api_key(clients: &Clients, tenant: &Tenant, id: &str) -> Result<(), AdminError> {
    let region = clients
        .apigateway
        .config()
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| AdminError::Conflict("no AWS Region configured for API Gateway".into()))?;
    let mut req = clients
        .apigateway
        .tag_resource()
        .resource_arn(format!("arn:aws:apigateway:{region}::/apikeys/{id}"));
    for (k, v) in key_tags(tenant) {
        req = req.tags(k, v);
    }
    req.send()
        .await
        .map_err(AdminError::aws("API Gateway TagResource"))?;
    Ok(())
}

async fn ensure_enabled_api_key(
    clients: &Clients,
    tenant: &Tenant,
    name: &str,
) -> Result<(String, &'static str), AdminError> {
    match find_api_key(clients, name).await? {
        Some((id, true)) => Ok((id, "unchanged")),
        Some((id, false)) => {
            clients
                .apigateway
                .update_api_key()
                .api_key(&id)
                .patch_operations(
                    PatchOperation::builder()
                        .op(Op::Replace)
                        .path("/enabled")
                        .value("true")
                        .build(),
                )
                .send()
                .await
                .map_err(AdminError::aws("API Gateway UpdateApiKey"))?;
            Ok((id, "re-enabled"))
        }
        None => {
            // API Gateway generates the value; it never leaves API Gateway except through the
            // authorizer (usageIdentifierKey).
            let out = clients
                .apigateway
                .create_api_key()
                .name(name)
                .description(format!(
                    "Tenantry tenant {} ({} tier)",
                    tenant.clinic_id, tenant.tier
                ))
                .enabled(true)
                .set_tags(Some(
                    key_tags(tenant)
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                ))
                .send()
                .await
                .map_err(AdminError::aws("API Gateway CreateApiKey"))?;
            let id = out
                .id()
                .ok_or_else(|| AdminError::Conflict("CreateApiKey returned no id".into()))?;
            Ok((id.to_owned(), "created"))
        }
    }
}

/// Whether the key is attached to the plan.
async fn attached(clients: &Clients, plan: &str, key: &str) -> Result<bool, AdminError> {
    match clients
        .apigateway
        .get_usage_plan_key()
        .usage_plan_id(plan)
        .key_id(key)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(AdminError::aws("API Gateway GetUsagePlanKey")(e)),
    }
}

pub async fn attach(clients: &Clients, plan: &str, key: &str) -> Result<bool, AdminError> {
    if attached(clients, plan, key).await? {
        return Ok(false);
    }
    clients
        .apigateway
        .create_usage_plan_key()
        .usage_plan_id(plan)
        .key_id(key)
        .key_type("API_KEY")
        .send()
        .await
        .map_err(AdminError::aws("API Gateway CreateUsagePlanKey"))?;
    Ok(true)
}

pub async fn detach(clients: &Clients, plan: &str, key: &str) -> Result<bool, AdminError> {
    if !attached(clients, plan, key).await? {
        return Ok(false);
    }
    clients
        .apigateway
        .delete_usage_plan_key()
        .usage_plan_id(plan)
        .key_id(key)
        .send()
        .await
        .map_err(AdminError::aws("API Gateway DeleteUsagePlanKey"))?;
    Ok(true)
}

/// A user of the pool as an administrator sees it: its tenant attributes (each `None` when
/// unset), its `sub` and whether it is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUser {
    pub username: String,
    pub clinic: Option<String>,
    pub tier: Option<String>,
    pub role: Option<String>,
    pub sub: Option<String>,
    pub enabled: bool,
}

/// A user as AdminGetUser and ListUsers describe it: its name, attributes and state.
fn pool_user(username: &str, attributes: &[AttributeType], enabled: bool) -> PoolUser {
    let attribute = |name: &str| {
        attributes
            .iter()
            .find(|a| a.name() == name)
            .and_then(|a| a.value())
            .map(str::to_owned)
    };
    PoolUser {
        username: username.to_owned(),
        clinic: attribute(CLAIM_CLINIC_ID),
        tier: attribute(CLAIM_TIER),
        role: attribute(CLAIM_ROLE),
        sub: attribute("sub"),
        enabled,
    }
}

/// The user `username` of `pool`; `None` when there is none.
pub async fn find_user(
    clients: &Clients,
    pool: &str,
    username: &str,
) -> Result<Option<PoolUser>, AdminError> {
    match clients
        .cognito
        .admin_get_user()
        .user_pool_id(pool)
        .username(username)
        .send()
        .await
    {
        Ok(user) => Ok(Some(pool_user(
            username,
            user.user_attributes(),
            user.enabled(),
        ))),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_user_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(AdminError::aws("Cognito AdminGetUser")(e)),
    }
}

fn attribute(name: &str, value: &str) -> Result<AttributeType, AdminError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(AdminError::aws("Cognito attribute"))
}

fn tenant_attributes(
    (clinic, tier): (&ClinicId, &TierName),
    user: &TenantUser,
) -> Result<Vec<AttributeType>, AdminError> {
    let mut attributes = updatable_tenant_attributes(tier, user)?;
    attributes.push(attribute(CLAIM_CLINIC_ID, clinic.as_str())?);
    Ok(attributes)
}

/// What an existing user's update may carry: `custom:clinic_id` is immutable in the pool (set
/// once, at creation), so it is never sent again.
pub fn updatable_tenant_attributes(
    tier: &TierName,
    user: &TenantUser,
) -> Result<Vec<AttributeType>, AdminError> {
    Ok(vec![
        attribute(CLAIM_TIER, tier.as_str())?,
        attribute(CLAIM_ROLE, user.role.as_str())?,
    ])
}

/// Creates `user` in the clinic (tenant attributes set by the administrator, an invitation
/// e-mailed unless `test_password`), or confirms an existing user of the same clinic and
/// role; a user of another clinic, or of another role, is refused.
pub async fn ensure_user(
    clients: &Clients,
    (clinic, tier): (&ClinicId, &TierName),
    pool: &str,
    user: &TenantUser,
    test_password: bool,
) -> Result<(&'static str, Option<String>), AdminError> {
    let found = find_user(clients, pool, &user.username).await?;
    let note = match found
        .as_ref()
        .map(|u| (u.clinic.as_deref(), u.role.as_deref()))
    {
        Some((Some(theirs), _)) if theirs != clinic.as_str() => {
            // Never move a user between tenants as a side effect of onboarding.
            return Err(AdminError::Conflict(format!(
                "user {} already belongs to {theirs}; offboard it there first",
                user.username
            )));
        }
        Some((Some(_), Some(role))) if role != user.role.as_str() => {
            // A role change must take the old role's memory with it: never as a side effect.
            return Err(AdminError::Conflict(format!(
                "user {} is a {role}, not a {}: change it with `tenant-admin user set-role` \
                 (which erases what the old role's conversations left in memory)",
                user.username, user.role
            )));
        }
        Some((None, _)) => {
            // The clinic is immutable: it cannot be added to a user created without it.
            return Err(AdminError::Conflict(format!(
                "user {} exists without a clinic; delete it and onboard again",
                user.username
            )));
        }
        Some((Some(_), _)) => {
            clients
                .cognito
                .admin_update_user_attributes()
                .user_pool_id(pool)
                .username(&user.username)
                .set_user_attributes(Some(updatable_tenant_attributes(tier, user)?))
                .send()
                .await
                .map_err(AdminError::aws("Cognito AdminUpdateUserAttributes"))?;
            "exists; tenant attributes confirmed"
        }
        None => {
            let mut attributes = tenant_attributes((clinic, tier), user)?;
            attributes.push(attribute("email", &user.email)?);
            if test_password {
                attributes.push(attribute("email_verified", "true")?);
            }
            let mut req = clients
                .cognito
                .admin_create_user()
                .user_pool_id(pool)
                .username(&user.username)
                .set_user_attributes(Some(attributes));
            if test_password {
                req = req.message_action(MessageActionType::Suppress);
            }
            req.send()
                .await
                .map_err(AdminError::aws("Cognito AdminCreateUser"))?;
            if test_password {
                "created (test user)"
            } else {
                "created; invitation e-mailed"
            }
        }
    };
    if !test_password {
        return Ok((note, None));
    }
    let password = generate_password()?;
    clients
        .cognito
        .admin_set_user_password()
        .user_pool_id(pool)
        .username(&user.username)
        .password(&password)
        .permanent(true)
        .send()
        .await
        .map_err(AdminError::aws("Cognito AdminSetUserPassword"))?;
    Ok((note, Some(password)))
}

/// 24 random bytes from the OS, plus one character of each class the pool's password policy
/// demands.
fn generate_password() -> Result<String, AdminError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| AdminError::Io {
        what: "the OS random source".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(format!(
        "{}Aa1!",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Every user of `clinic` in `pool`, with its attributes as listed (no read per user).
/// Cognito cannot filter users by a custom attribute, so the pool is listed and filtered here.
pub async fn clinic_users(
    clients: &Clients,
    pool: &str,
    clinic: &str,
) -> Result<Vec<PoolUser>, AdminError> {
    let mut users = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .cognito
            .list_users()
            .user_pool_id(pool)
            .limit(60)
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(AdminError::aws("Cognito ListUsers"))?;
        for user in page.users() {
            if let Some(name) = user.username() {
                let found = pool_user(name, user.attributes(), user.enabled());
                if found.clinic.as_deref() == Some(clinic) {
                    users.push(found);
                }
            }
        }
        match page.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(users)
}

fn not_found<E>(e: &aws_sdk_cognitoidentityprovider::error::SdkError<E>) -> bool
where
    E: aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "UserNotFoundException")
}

/// Signs `username` out everywhere, then disables it: a disabled user's refresh tokens would
/// otherwise outlive the disabling once the user is enabled again. Returns whether the user
/// exists.
pub async fn sign_out_and_disable(
    clients: &Clients,
    pool: &str,
    username: &str,
) -> Result<bool, AdminError> {
    if !sign_out(clients, pool, username).await? {
        return Ok(false);
    }
    match clients
        .cognito
        .admin_disable_user()
        .user_pool_id(pool)
        .username(username)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if not_found(&e) => Ok(false),
        Err(e) => Err(AdminError::aws("Cognito AdminDisableUser")(e)),
    }
}

/// Signs `username` out everywhere (its refresh tokens revoked; ID tokens already issued end
/// within their 15 minutes); returns whether the user exists.
pub async fn sign_out(clients: &Clients, pool: &str, username: &str) -> Result<bool, AdminError> {
    match clients
        .cognito
        .admin_user_global_sign_out()
        .user_pool_id(pool)
        .username(username)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if not_found(&e) => Ok(false),
        Err(e) => Err(AdminError::aws("Cognito AdminUserGlobalSignOut")(e)),
    }
}

/// Sets one administrator-owned attribute of `username` (`custom:tier`, `custom:role`).
pub async fn set_user_attribute(
    clients: &Clients,
    pool: &str,
    username: &str,
    name: &str,
    value: &str,
) -> Result<(), AdminError> {
    clients
        .cognito
        .admin_update_user_attributes()
        .user_pool_id(pool)
        .username(username)
        .user_attributes(attribute(name, value)?)
        .send()
        .await
        .map_err(AdminError::aws("Cognito AdminUpdateUserAttributes"))?;
    Ok(())
}

pub async fn delete_user(clients: &Clients, pool: &str, username: &str) -> Result<(), AdminError> {
    clients
        .cognito
        .admin_delete_user()
        .user_pool_id(pool)
        .username(username)
        .send()
        .await
        .map_err(AdminError::aws("Cognito AdminDeleteUser"))?;
    Ok(())
}

/// Enables `username`; returns whether the user exists.
pub async fn enable_user(
    clients: &Clients,
    pool: &str,
    username: &str,
) -> Result<bool, AdminError> {
    match clients
        .cognito
        .admin_enable_user()
        .user_pool_id(pool)
        .username(username)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if not_found(&e) => Ok(false),
        Err(e) => Err(AdminError::aws("Cognito AdminEnableUser")(e)),
    }
}

/// Disables every user of `clinic` in `pool` and signs each out everywhere (their refresh
/// tokens stop working; ID tokens already issued end within their 15 minutes). Returns how
/// many users the clinic has.
pub async fn disable_clinic_users(
    clients: &Clients,
    pool: &str,
    clinic: &str,
) -> Result<usize, AdminError> {
    let users = clinic_users(clients, pool, clinic).await?;
    for user in &users {
        sign_out_and_disable(clients, pool, &user.username).await?;
    }
    Ok(users.len())
}

/// Suspends or resumes a tenant everywhere: the registry status the front door reads, and its
/// users, so its tokens stop working at the Runtimes and Gateways too, which do not consult
/// the registry. A suspension first records which users were enabled, then disables and signs
/// out exactly those; a resume enables exactly those again, so a user an administrator had
/// disabled stays disabled. Either may be run again after an interruption and finishes.
/// Returns how many users it disabled or enabled.
pub async fn set_tenant_status(
    clients: &Clients,
    registry_table: &str,
    pool: &str,
    clinic: &ClinicId,
    status: TenantStatus,
) -> Result<usize, AdminError> {
    let registry = clients.registry(registry_table);
    match status {
        TenantStatus::ChangingTier
        | TenantStatus::Offboarding
        | TenantStatus::Offboarded
        | TenantStatus::Purged => Err(tenant_registry::RegistryError::TierChangeRefused {
            clinic: clinic.to_string(),
            why: format!("set-status sets active or suspended, not {status}"),
        }
        .into()),
        TenantStatus::Suspended => {
            registry.set_status(clinic, status).await?;
            let enabled: Vec<String> = clinic_users(clients, pool, clinic.as_str())
                .await?
                .into_iter()
                .filter_map(|u| u.enabled.then_some(u.username))
                .collect();
            let suspended = registry.record_suspended_users(clinic, &enabled).await?;
            for username in &suspended {
                sign_out_and_disable(clients, pool, username).await?;
            }
            Ok(suspended.len())
        }
        TenantStatus::Active => {
            match registry.get(clinic).await?.map(|r| r.status) {
                None => {
                    return Err(tenant_registry::RegistryError::NotOnboarded {
                        clinic: clinic.to_string(),
                    }
                    .into());
                }
                // Nobody of an offboarded clinic is enabled again by a resume.
                Some(retired) if retired.is_retired() => {
                    return Err(tenant_registry::RegistryError::retired(clinic, retired).into());
                }
                Some(_) => {}
            }
            let mut enabled = 0;
            for username in registry.suspended_users(clinic).await? {
                if enable_user(clients, pool, &username).await? {
                    enabled += 1;
                }
            }
            registry.set_status(clinic, status).await?;
            registry.clear_suspended_users(clinic).await?;
            Ok(enabled)
        }
    }
}

/// Sets an onboarded clinic's own token budget (`None`: back to its tier's). The agents read it
/// with the registry's short cache, so it applies within about a minute; today's and this
/// month's counts are kept.
pub async fn set_clinic_budget(
    clients: &Clients,
    registry_table: &str,
    clinic: &ClinicId,
    budget: Option<tenant_context::TokenBudget>,
) -> Result<(), AdminError> {
    if let Some(problem) = budget.and_then(|b| b.problem()) {
        return Err(AdminError::BadBudget(problem));
    }
    clients
        .registry(registry_table)
        .set_budget(clinic, budget)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offboarded id is not given out again while its old users' ID tokens may verify
    /// (their lifetime plus the verifier's leeway after the tombstone), nor without a time.
    #[test]
    fn a_tombstoned_id_is_reusable_only_after_its_tokens_ended() {
        let clinic = ClinicId::parse("clinic-b").unwrap();
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        let retired = Some("2026-12-07T10:00:00Z");
        assert!(reusable_after(&clinic, retired, at("2026-12-07T10:00:01Z")).is_err());
        let e = reusable_after(&clinic, retired, at("2026-12-07T10:15:59Z")).unwrap_err();
        assert!(e.to_string().contains("10:16:00"), "{e}");
        assert!(reusable_after(&clinic, retired, at("2026-12-07T10:16:00Z")).is_ok());
        for bad in [None, Some(""), Some("yesterday")] {
            assert!(reusable_after(&clinic, bad, at("2030-01-01T00:00:00Z")).is_err());
        }
    }

    /// `custom:clinic_id` is immutable in the pool: set at creation, never in an update (Cognito
    /// refuses an update that names an immutable attribute).
    #[test]
    fn updates_never_carry_the_clinic() {
        let tiers = tenant_context::TierCatalog::embedded().unwrap();
        let file = serde_json::json!({"clinics": [{
            "clinic_id": "clinic-q", "tier": "basic", "name": "Q", "timezone": "UTC",
            "user": {"username": "dr.q@clinic-q.example", "role": "nurse"}
        }]});
        let tenant = &crate::load_tenants(&file.to_string(), &tiers).unwrap()[0];
        let user = tenant.user.as_ref().unwrap();
        let names = |attrs: Vec<AttributeType>| -> Vec<String> {
            attrs.iter().map(|a| a.name().to_owned()).collect()
        };
        let update = names(updatable_tenant_attributes(&tenant.tier, user).unwrap());
        assert_eq!(update, ["custom:tier", "custom:role"]);
        let create = names(tenant_attributes((&tenant.clinic_id, &tenant.tier), user).unwrap());
        assert!(create.iter().any(|n| n == "custom:clinic_id"));
    }
}
