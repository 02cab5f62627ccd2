//! What onboarding or offboarding one tenant does, as data: printed by `--dry-run`, executed
//! by `apply`.

use std::collections::BTreeMap;

use tenant_context::{TierCatalog, TierName};

use crate::documents::TierDocuments;
use crate::outputs::{
    REQUIRED_OUTPUTS, StackOutputs, memory_output, tier_output, usage_plan_output,
};
use crate::{AdminError, Tenant, TenantStatus, TenantUser};

/// The stack resources the actions work on.
#[derive(Debug, Clone)]
pub struct Targets {
    pub name_prefix: String,
    pub user_pool_id: String,
    pub registry_table: String,
    pub clinic_table: String,
    /// PatientMetadata (`clinic_id`, `patient_id`): what export writes and a purge erases.
    pub patient_table: String,
    /// Usage (`clinic_id`, `day`): exported; kept by a purge (billing).
    pub usage_table: String,
    /// The PHI access audit trail's log group: exported; kept by a purge.
    pub audit_log_group: String,
    /// How many days the stack keeps its audit trail (how far back an export reads it).
    pub audit_retention_days: u32,
    pub usage_plans: BTreeMap<TierName, String>,
    /// Each tier's AgentCore Memory id (where its users' conversations and long-term records
    /// are, for erasure).
    pub memories: BTreeMap<TierName, String>,
    /// Each tier's document bucket and knowledge base (a tier change moves a clinic's
    /// documents).
    pub documents: BTreeMap<TierName, TierDocuments>,
    /// The stack was deployed as a test stack (`StackPurpose=test`): the only kind whose users
    /// may get generated passwords.
    pub test_stack: bool,
}

impl Targets {
    pub fn from_outputs(outputs: &StackOutputs, tiers: &TierCatalog) -> Result<Self, AdminError> {
        for key in REQUIRED_OUTPUTS {
            outputs.get(key)?;
        }
        let mut usage_plans = BTreeMap::new();
        let mut memories = BTreeMap::new();
        let mut documents = BTreeMap::new();
        for (tier, _) in tiers.iter() {
            usage_plans.insert(
                tier.clone(),
                outputs.get(&usage_plan_output(tier))?.to_owned(),
            );
            memories.insert(tier.clone(), outputs.get(&memory_output(tier))?.to_owned());
            documents.insert(
                tier.clone(),
                TierDocuments {
                    bucket: outputs
                        .get(&tier_output(tier, "DocumentsBucket"))?
                        .to_owned(),
                    knowledge_base_id: outputs
                        .get(&tier_output(tier, "KnowledgeBaseId"))?
                        .to_owned(),
                    data_source_id: outputs.get(&tier_output(tier, "DataSourceId"))?.to_owned(),
                },
            );
        }
        Ok(Self {
            name_prefix: outputs.get("NamePrefix")?.to_owned(),
            user_pool_id: outputs.get("UserPoolId")?.to_owned(),
            registry_table: outputs.get("TenantRegistryTableName")?.to_owned(),
            clinic_table: outputs.get("ClinicConfigTableName")?.to_owned(),
            patient_table: outputs.get("PatientMetadataTableName")?.to_owned(),
            usage_table: outputs.get("UsageTableName")?.to_owned(),
            audit_log_group: outputs.get("AuditLogGroupName")?.to_owned(),
            audit_retention_days: outputs.get("AuditRetentionDays")?.parse().map_err(|_| {
                AdminError::MissingOutput("AuditRetentionDays (a whole number of days)".into())
            })?,
            usage_plans,
            memories,
            documents,
            test_stack: outputs.get("StackPurpose")? == "test",
        })
    }

    /// Stand-in names for a dry run before the stack exists.
    pub fn placeholders(name_prefix: &str, tiers: &TierCatalog) -> Self {
        Self {
            name_prefix: name_prefix.to_owned(),
            user_pool_id: "<UserPoolId>".into(),
            registry_table: format!("{name_prefix}-TenantRegistry"),
            clinic_table: format!("{name_prefix}-ClinicConfig"),
            patient_table: format!("{name_prefix}-PatientMetadata"),
            usage_table: format!("{name_prefix}-Usage"),
            audit_log_group: "<AuditLogGroupName>".into(),
            audit_retention_days: 0,
            usage_plans: tiers
                .iter()
                .map(|(tier, _)| (tier.clone(), format!("<{}>", usage_plan_output(tier))))
                .collect(),
            memories: tiers
                .iter()
                .map(|(tier, _)| (tier.clone(), format!("<{}>", memory_output(tier))))
                .collect(),
            documents: tiers
                .iter()
                .map(|(tier, _)| {
                    let placeholder = |what| format!("<{}>", tier_output(tier, what));
                    (
                        tier.clone(),
                        TierDocuments {
                            bucket: placeholder("DocumentsBucket"),
                            knowledge_base_id: placeholder("KnowledgeBaseId"),
                            data_source_id: placeholder("DataSourceId"),
                        },
                    )
                })
                .collect(),
            // A dry run before the stack exists cannot know; it changes nothing, and the real
            // run reads the stack's own StackPurpose output.
            test_stack: true,
        }
    }

    pub fn api_key_name(&self, tenant: &Tenant) -> String {
        format!("{}-{}", self.name_prefix, tenant.clinic_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Refuse an id whose registry row is a tombstone (offboarded, purged), being offboarded
    /// or changing tier, before anything is created or attached for it; `reuse_id` lets a
    /// tombstone through (once its old users' ID tokens have ended).
    CheckIdFree {
        table: String,
        reuse_id: bool,
    },
    /// The registry row to status `offboarding` (refused everywhere; the id stays taken).
    BeginOffboarding {
        table: String,
    },
    /// Every event and long-term record of every actor of the clinic, in each tier's Memory.
    EraseMemory {
        memories: Vec<(TierName, String)>,
    },
    /// Every version of every object under the clinic's prefix in each tier's bucket, then
    /// each tier's knowledge base synced (its vectors of them go).
    EraseDocuments {
        documents: Vec<(TierName, TierDocuments)>,
    },
    /// Every PatientMetadata row of the clinic.
    ErasePatientRows {
        table: String,
    },
    /// Every user of the clinic in the pool deleted.
    DeleteClinicUsers {
        pool: String,
    },
    /// The registry row becomes a tombstone (`offboarded` or `purged`).
    Retire {
        table: String,
        status: TenantStatus,
    },
    /// Find the tenant's API key by name (create it, tagged, if absent; enable it if disabled).
    EnsureApiKey {
        name: String,
    },
    /// Attach the key to its tier's usage plan and detach it from every other tier's plan.
    AttachToUsagePlan {
        tier: TierName,
        plan_id: String,
        others: Vec<(TierName, String)>,
    },
    /// The TenantRegistry row the authorizer reads (clinic -> tier, status, API key id).
    PutRegistryRow {
        table: String,
        status: TenantStatus,
        /// The write may go onto a tombstone (`--reuse-id`).
        reuse_id: bool,
    },
    /// The ClinicConfig row the tool target reads (name, tier, timezone).
    PutClinicRow {
        table: String,
    },
    /// The tenant's user with administrator-set tenant attributes; refused if the user
    /// exists in another tenant. `test_password`: give it a generated permanent password.
    EnsureUser {
        pool: String,
        user: TenantUser,
        test_password: bool,
    },
    DeleteApiKey {
        name: String,
    },
    /// Every user of the clinic in the pool disabled and signed out everywhere (refresh tokens
    /// revoked; issued ID tokens end within their lifetime).
    DisableUsers {
        pool: String,
    },
    DeleteClinicRow {
        table: String,
    },
    DeleteUser {
        pool: String,
        username: String,
    },
}

/// How every offboarding starts: the clinic refused everywhere (registry status
/// `offboarding`), its API key deleted, its users disabled and signed out.
fn access_removed(tenant: &Tenant, targets: &Targets) -> Vec<Action> {
    vec![
        Action::BeginOffboarding {
            table: targets.registry_table.clone(),
        },
        Action::DeleteApiKey {
            name: targets.api_key_name(tenant),
        },
        Action::DisableUsers {
            pool: targets.user_pool_id.clone(),
        },
    ]
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub tenant: Tenant,
    pub actions: Vec<Action>,
}

impl Plan {
    pub fn onboard(
        tenant: &Tenant,
        targets: &Targets,
        test_users: bool,
    ) -> Result<Self, AdminError> {
        Self::onboard_reusing(tenant, targets, test_users, false)
    }

    /// Onboarding that, with `reuse_id`, may give an offboarded (or purged) clinic's id out
    /// again: the operator's explicit decision, never a default.
    pub fn onboard_reusing(
        tenant: &Tenant,
        targets: &Targets,
        test_users: bool,
        reuse_id: bool,
    ) -> Result<Self, AdminError> {
        if test_users && !targets.test_stack {
            return Err(AdminError::NotATestStack);
        }
        let plan_id = targets
            .usage_plans
            .get(&tenant.tier)
            .ok_or_else(|| {
                AdminError::MissingOutput(format!("usage plan of tier {}", tenant.tier))
            })?
            .clone();
        let others = targets
            .usage_plans
            .iter()
            .filter(|(tier, _)| **tier != tenant.tier)
            .map(|(tier, id)| (tier.clone(), id.clone()))
            .collect();
        let mut actions = vec![
            Action::CheckIdFree {
                table: targets.registry_table.clone(),
                reuse_id,
            },
            Action::EnsureApiKey {
                name: targets.api_key_name(tenant),
            },
            Action::AttachToUsagePlan {
                tier: tenant.tier.clone(),
                plan_id,
                others,
            },
            Action::PutClinicRow {
                table: targets.clinic_table.clone(),
            },
            // Last: the registry row is what lets the tenant in.
            Action::PutRegistryRow {
                table: targets.registry_table.clone(),
                status: TenantStatus::Active,
                reuse_id,
            },
        ];
        if let Some(user) = &tenant.user {
            actions.push(Action::EnsureUser {
                pool: targets.user_pool_id.clone(),
                user: user.clone(),
                test_password: test_users,
            });
        }
        Ok(Self {
            tenant: tenant.clone(),
            actions,
        })
    }

    /// Refuses the clinic first (registry status `offboarding`), removes its API key and its
    /// users' access, its clinic row and the tenant file's user, and leaves a tombstone
    /// (`offboarded`). Patient rows, documents and memory are kept (their retention is the
    /// provider's decision: `purge` erases them).
    pub fn offboard(tenant: &Tenant, targets: &Targets) -> Self {
        let mut actions = access_removed(tenant, targets);
        actions.push(Action::DeleteClinicRow {
            table: targets.clinic_table.clone(),
        });
        if let Some(user) = &tenant.user {
            actions.push(Action::DeleteUser {
                pool: targets.user_pool_id.clone(),
                username: user.username.clone(),
            });
        }
        actions.push(Action::Retire {
            table: targets.registry_table.clone(),
            status: TenantStatus::Offboarded,
        });
        Self {
            tenant: tenant.clone(),
            actions,
        }
    }

    /// Offboarding that erases the clinic's data: after access is removed, its memory (every
    /// tier's), its documents (every version, every tier's bucket, vectors with them), its
    /// patient rows and every user of it; the tombstone says `purged`. The audit trail and the
    /// usage rows are kept (the provider's record of access, and billing).
    pub fn purge(tenant: &Tenant, targets: &Targets) -> Self {
        // First: the clinic refused and no user able to sign in (or refresh) while its data goes.
        let mut actions = access_removed(tenant, targets);
        actions.extend([
            Action::EraseMemory {
                memories: targets
                    .memories
                    .iter()
                    .map(|(t, id)| (t.clone(), id.clone()))
                    .collect(),
            },
            Action::EraseDocuments {
                documents: targets
                    .documents
                    .iter()
                    .map(|(t, d)| (t.clone(), d.clone()))
                    .collect(),
            },
            Action::ErasePatientRows {
                table: targets.patient_table.clone(),
            },
            Action::DeleteClinicUsers {
                pool: targets.user_pool_id.clone(),
            },
            Action::DeleteClinicRow {
                table: targets.clinic_table.clone(),
            },
            Action::Retire {
                table: targets.registry_table.clone(),
                status: TenantStatus::Purged,
            },
        ]);
        Self {
            tenant: tenant.clone(),
            actions,
        }
    }

    /// One line per action, for the dry run.
    pub fn describe(&self) -> Vec<String> {
        let t = &self.tenant;
        self.actions
            .iter()
            .map(|a| match a {
                Action::EnsureApiKey { name } => format!(
                    "API key {name} (created if absent; tags Application=tenantry, Tier={}, ClinicId={})",
                    t.tier, t.clinic_id
                ),
                Action::AttachToUsagePlan { tier, plan_id, others } => {
                    let mut line = format!("attach it to the {tier} usage plan {plan_id}");
                    if !others.is_empty() {
                        let names: Vec<String> = others.iter().map(|(t, id)| format!("{t} {id}")).collect();
                        line.push_str(&format!(" and detach it from {}", names.join(", ")));
                    }
                    line
                }
                Action::PutRegistryRow { table, status, .. } => format!(
                    "{table}: clinic_id={} tier={} status={status} api_key_id=<the key's id>",
                    t.clinic_id, t.tier
                ),
                Action::PutClinicRow { table } => format!(
                    "{table}: clinic_id={} name={:?} tier={} timezone={}",
                    t.clinic_id, t.name, t.tier, t.timezone
                ),
                Action::EnsureUser { pool, user, test_password } => format!(
                    "user {} in {pool} (custom:tier={}, custom:clinic_id={}, custom:role={}){}",
                    user.username,
                    t.tier,
                    t.clinic_id,
                    user.role,
                    if *test_password { "; TEST user with a generated password" } else { "; Cognito e-mails an invitation" }
                ),
                Action::DeleteApiKey { name } => format!("delete API key {name} (leaves its usage plan)"),
                Action::DisableUsers { pool } => format!("disable every user of {} in {pool} and sign them out everywhere", t.clinic_id),
                Action::CheckIdFree { table, reuse_id } => format!(
                    "{table}: refuse if clinic_id={} was offboarded{}",
                    t.clinic_id,
                    if *reuse_id { " (--reuse-id: an offboarded or purged id is given out again)" } else { " or purged (--reuse-id overrides)" }
                ),
                Action::BeginOffboarding { table } => format!("{table}: clinic_id={} status offboarding (refused everywhere from here on)", t.clinic_id),
                Action::EraseMemory { memories } => format!(
                    "erase every event and long-term record of every actor {{tier}}/{}/* in {}",
                    t.clinic_id,
                    memories.iter().map(|(tier, id)| format!("{tier} memory {id}")).collect::<Vec<_>>().join(", ")
                ),
                Action::EraseDocuments { documents } => format!(
                    "delete every version of every object under {{tier}}-tier/{}/ in {}, then sync each knowledge base",
                    t.clinic_id,
                    documents.iter().map(|(tier, d)| format!("{} ({tier})", d.bucket)).collect::<Vec<_>>().join(", ")
                ),
                Action::ErasePatientRows { table } => format!("{table}: delete every row of clinic_id={}", t.clinic_id),
                Action::DeleteClinicUsers { pool } => format!("delete every user of {} from {pool}", t.clinic_id),
                Action::Retire { table, status } => format!(
                    "{table}: clinic_id={} becomes a tombstone, status {status} (onboarding the id again needs --reuse-id); the audit trail and the usage rows are kept",
                    t.clinic_id
                ),
                Action::DeleteClinicRow { table } => format!("{table}: delete clinic_id={}", t.clinic_id),
                Action::DeleteUser { pool, username } => format!("delete user {username} from {pool} (only if it belongs to {})", t.clinic_id),
            })
            .collect()
    }
}
