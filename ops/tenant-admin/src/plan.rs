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
    DeleteRegistryRow {
        table: String,
    },
    DeleteClinicRow {
        table: String,
    },
    DeleteUser {
        pool: String,
        username: String,
    },
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

    /// Removes access first (registry row, then API key), then configuration and the user.
    /// Patient rows and documents are kept: their retention is the provider's decision.
    pub fn offboard(tenant: &Tenant, targets: &Targets) -> Self {
        let mut actions = vec![
            Action::DeleteRegistryRow {
                table: targets.registry_table.clone(),
            },
            Action::DeleteApiKey {
                name: targets.api_key_name(tenant),
            },
            Action::DisableUsers {
                pool: targets.user_pool_id.clone(),
            },
            Action::DeleteClinicRow {
                table: targets.clinic_table.clone(),
            },
        ];
        if let Some(user) = &tenant.user {
            actions.push(Action::DeleteUser {
                pool: targets.user_pool_id.clone(),
                username: user.username.clone(),
            });
        }
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
                Action::PutRegistryRow { table, status } => format!(
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
                Action::DeleteRegistryRow { table } => format!("{table}: delete clinic_id={} (the authorizer refuses it from now on)", t.clinic_id),
                Action::DeleteClinicRow { table } => format!("{table}: delete clinic_id={}", t.clinic_id),
                Action::DeleteUser { pool, username } => format!("delete user {username} from {pool} (only if it belongs to {})", t.clinic_id),
            })
            .collect()
    }
}
