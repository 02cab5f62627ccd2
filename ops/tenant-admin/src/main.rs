//! tenant-admin: onboard, offboard, suspend and resume tenants, and manage their users, on a
//! deployed stack.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tenant_admin::apply::{Clients, apply, set_clinic_budget, set_tenant_status};
use tenant_admin::{AdminError, Plan, StackOutputs, Targets, load_tenants};
use tenant_context::TierCatalog;

/// A clinic's life on a deployed Tenantry stack: onboarding, users and roles, suspension, tier
/// changes, token budgets, audit trail reads, export and offboarding.
///
/// Uses the standard AWS configuration (AWS_PROFILE, AWS_REGION, ...). Every command is
/// idempotent; every command that changes something takes --dry-run, which prints what would
/// be done and needs neither AWS nor the stack.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One user of an onboarded clinic: add, disable, enable, remove, change role. A role
    /// change or a removal erases what the user's conversations left in memory.
    User {
        #[command(subcommand)]
        change: UserCommand,
        /// Stack outputs (JSON from `aws cloudformation describe-stacks`); optional with
        /// --dry-run.
        #[arg(long, value_name = "FILE", global = true)]
        outputs: Option<PathBuf>,
        /// Print the steps; change nothing.
        #[arg(long, global = true)]
        dry_run: bool,
    },
    /// API key in the tier's usage plan, registry and clinic rows, and the tenant's user.
    /// An offboarded or purged clinic id is refused unless --reuse-id.
    Onboard {
        #[command(flatten)]
        common: Common,
        /// Give an offboarded (or purged) clinic's id out again. After a plain offboard the
        /// clinic comes back onto its kept patient rows and documents; after a purge the id
        /// starts empty, but its audit trail and usage rows are still filed under it.
        #[arg(long)]
        reuse_id: bool,
        /// Give the tenants' users generated passwords (no invitation e-mail) and write the
        /// credentials to this file (mode 600). For test tenants only.
        #[arg(long, value_name = "FILE")]
        test_users: Option<PathBuf>,
    },
    /// Refuses the clinic everywhere, deletes its API key, disables its users, deletes its
    /// clinic row and the tenant file's user, and leaves a tombstone in the registry (the id is
    /// not onboarded again without --reuse-id). Patient rows, documents and memory are kept
    /// unless --purge. Run `export` first to hand the clinic its data.
    Offboard {
        #[command(flatten)]
        common: Common,
        /// Also erase the clinic's data: memory (events and long-term records), documents
        /// (every version, and their vectors), patient rows and every user of it. Kept: the
        /// audit trail and the usage rows. Irreversible: needs --yes.
        #[arg(long)]
        purge: bool,
        /// Confirms --purge.
        #[arg(long, requires = "purge")]
        yes: bool,
    },
    /// Writes everything the stack holds of one clinic (registry and clinic rows, patient rows,
    /// documents, memory events and records, usage rows, audit trail) to a folder or an S3
    /// prefix, with a manifest of SHA-256 sums written last. Run again to finish a stopped one.
    Export {
        /// Stack outputs (JSON from `aws cloudformation describe-stacks`); optional with
        /// --dry-run.
        #[arg(long, value_name = "FILE")]
        outputs: Option<PathBuf>,
        #[arg(long)]
        clinic: String,
        /// A local folder (created, readable by you only) or s3://BUCKET/PREFIX.
        #[arg(long, value_name = "DIR|S3 URL")]
        to: String,
        /// Print the steps; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Moves one onboarded clinic to another tier: refused everywhere while it runs, then fully
    /// on the new tier (users' tier, API key's usage plan, rows); its memory on the old tier is
    /// erased, not moved. Run again with the same --tier to finish an interrupted change.
    ChangeTier {
        /// Stack outputs (JSON from `aws cloudformation describe-stacks`); optional with
        /// --dry-run.
        #[arg(long, value_name = "FILE")]
        outputs: Option<PathBuf>,
        #[arg(long)]
        clinic: String,
        /// The tier to move to (a tier of infra/tiers.json).
        #[arg(long)]
        tier: String,
        /// Print the steps; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Suspends or resumes one onboarded tenant (the authorizer refuses suspended tenants).
    /// A suspension disables the clinic's enabled users and records them; a resume enables
    /// those and no others. Either can be run again after an interruption.
    SetStatus {
        /// Stack outputs (JSON from `aws cloudformation describe-stacks`); optional with
        /// --dry-run.
        #[arg(long, value_name = "FILE")]
        outputs: Option<PathBuf>,
        #[arg(long)]
        clinic: String,
        #[arg(long, value_enum)]
        status: Status,
        /// Print the steps; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Lists one clinic's PHI access audit trail (who reached which patient's data, when,
    /// through which tool, allowed or denied by which layer), oldest first. The same filters
    /// as a clinic admin's GET /audit.
    Audit {
        /// Stack outputs (JSON from `aws cloudformation describe-stacks`): the log group is
        /// its AuditLogGroupName. Or give --log-group.
        #[arg(long, value_name = "FILE", required_unless_present = "log_group")]
        outputs: Option<PathBuf>,
        /// The audit trail's log group, instead of --outputs.
        #[arg(long, value_name = "NAME", conflicts_with = "outputs")]
        log_group: Option<String>,
        #[arg(long)]
        clinic: String,
        /// Only events naming this patient id.
        #[arg(long)]
        patient: Option<String>,
        /// Only events of this user (`sub`).
        #[arg(long)]
        user: Option<String>,
        /// From this time (RFC 3339); default: 7 days before --to.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Until this time (RFC 3339); default: now.
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 500)]
        max: usize,
        /// One JSON object per line (the stored events) instead of the listing.
        #[arg(long)]
        json: bool,
    },
    /// Sets one onboarded clinic's own token budget (model tokens per UTC day and month), or
    /// puts it back on its tier's (infra/tiers.json). Applies within the registry cache's
    /// lifetime (about a minute); the tokens already counted today and this month stay.
    SetBudget {
        /// Stack outputs (JSON from `aws cloudformation describe-stacks`); optional with
        /// --dry-run.
        #[arg(long, value_name = "FILE")]
        outputs: Option<PathBuf>,
        #[arg(long)]
        clinic: String,
        /// Tokens (input plus output) per UTC day.
        #[arg(long, value_name = "N", required_unless_present = "tier_default")]
        daily_tokens: Option<u64>,
        /// Tokens per UTC month (at least the daily budget); without it, no monthly limit.
        #[arg(long, value_name = "N", requires = "daily_tokens")]
        monthly_tokens: Option<u64>,
        /// Remove the clinic's own budget: its tier's applies again.
        #[arg(long, conflicts_with_all = ["daily_tokens", "monthly_tokens"])]
        tier_default: bool,
        /// Print what would be set; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(clap::Args)]
struct Who {
    #[arg(long)]
    clinic: String,
    /// The user's username in the pool.
    #[arg(long)]
    username: String,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Creates a user in the clinic (its tier from the registry); an invitation is e-mailed.
    Add {
        #[command(flatten)]
        who: Who,
        /// A role of infra/tiers.json.
        #[arg(long)]
        role: String,
        /// Default: the username, when it is an e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Give the user a generated password (no invitation) and write it to this file
        /// (mode 600). Test stacks only.
        #[arg(long, value_name = "FILE")]
        test_password: Option<PathBuf>,
    },
    /// Signs the user out everywhere and disables it; resuming the clinic leaves it disabled.
    Disable {
        #[command(flatten)]
        who: Who,
    },
    /// Enables the user again (while the clinic is active).
    Enable {
        #[command(flatten)]
        who: Who,
    },
    /// Signs the user out, erases its memory and deletes it.
    Remove {
        #[command(flatten)]
        who: Who,
    },
    /// Sets the user's role, signs it out everywhere and erases its memory (what the old
    /// role's conversations left there). Run again to finish an interrupted change.
    SetRole {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        role: String,
    },
}

#[derive(clap::Args)]
struct Common {
    /// Tenant file (the format of infra/demo-tenants.json).
    #[arg(long, value_name = "FILE")]
    tenants: PathBuf,
    /// Stack outputs: JSON from `aws cloudformation describe-stacks --query 'Stacks[0].Outputs'`.
    /// Optional with --dry-run (names are shown as placeholders).
    #[arg(long, value_name = "FILE")]
    outputs: Option<PathBuf>,
    /// Print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Resource name prefix for a dry run without outputs.
    #[arg(long, default_value = "tenantry")]
    name_prefix: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum Status {
    Active,
    Suspended,
}

/// A line on stdout. A closed reader (`tenant-admin audit ... | head`) is not an error and never
/// a panic (as `println!` would make it): an operation under way goes on to its end, whatever
/// reads its progress lines.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tenant-admin: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> Result<String, AdminError> {
    std::fs::read_to_string(path).map_err(|source| AdminError::Io {
        what: path.display().to_string(),
        source,
    })
}

async fn run(cli: Cli) -> Result<(), AdminError> {
    let tiers = TierCatalog::embedded()?;
    match cli.command {
        Command::User {
            change,
            outputs,
            dry_run,
        } => user(change, outputs, dry_run, &tiers).await,
        Command::ChangeTier {
            outputs,
            clinic,
            tier,
            dry_run,
        } => {
            let change = tenant_admin::tier_change::TierChange {
                clinic: tenant_context::ClinicId::parse(&clinic)?,
                to: tiers.tier(&tier)?,
            };
            let targets = targets(outputs.as_deref(), dry_run, &tiers)?;
            say!("==> change-tier {} -> {}", change.clinic, change.to);
            if dry_run {
                for line in change.describe(&targets) {
                    say!("    would: {line}");
                }
                return Ok(());
            }
            let clients = Clients::new(
                &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
            );
            let wait = tenant_admin::documents::SyncWait::default();
            tenant_admin::tier_change::change_tier(
                &change,
                &clients,
                &targets,
                &tiers,
                wait,
                &mut |line| {
                    say!("    {line}");
                    let _ = std::io::stdout().flush();
                },
            )
            .await
        }
        Command::Audit {
            outputs,
            log_group,
            clinic,
            patient,
            user,
            from,
            to,
            max,
            json,
        } => {
            let clinic = tenant_context::ClinicId::parse(&clinic)?;
            let group = match (log_group, outputs) {
                (Some(g), _) => g,
                (None, Some(path)) => StackOutputs::from_json(&read(&path)?)?
                    .get("AuditLogGroupName")?
                    .to_owned(),
                (None, None) => {
                    return Err(AdminError::MissingOutput(
                        "AuditLogGroupName (give --outputs or --log-group)".into(),
                    ));
                }
            };
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let log = audit_trail::AuditLog::new(&sdk, group.clone());
            let filters = tenant_admin::audit::AuditFilters {
                patient,
                user,
                from,
                to,
            };
            let events = tenant_admin::audit::read_trail(&log, &clinic, &filters, max).await?;
            let mut out = std::io::stdout().lock();
            for e in &events {
                let text = if json {
                    serde_json::to_string(e).unwrap_or_default()
                } else {
                    tenant_admin::audit::line(e)
                };
                let _ = writeln!(out, "{text}");
            }
            if !json {
                let _ = writeln!(
                    out,
                    "==> {clinic}: {} event(s) in {group}{}",
                    events.len(),
                    if events.len() >= max {
                        " (the limit: narrow with --from/--to, --patient or --user, or raise --max)"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        Command::SetBudget {
            outputs,
            clinic,
            daily_tokens,
            monthly_tokens,
            tier_default: _,
            dry_run,
        } => {
            let clinic = tenant_context::ClinicId::parse(&clinic)?;
            let budget = daily_tokens.map(|daily_tokens| tenant_context::TokenBudget {
                daily_tokens,
                monthly_tokens,
            });
            if let Some(problem) = budget.and_then(|b| b.problem()) {
                return Err(AdminError::BadBudget(problem));
            }
            let what = match budget {
                Some(b) => format!(
                    "{} tokens a day, {}",
                    b.daily_tokens,
                    b.monthly_tokens
                        .map_or("no monthly limit".to_owned(), |m| format!("{m} a month"))
                ),
                None => "its tier's (infra/tiers.json)".to_owned(),
            };
            if dry_run {
                say!("==> would set {clinic}'s token budget: {what} (dry run: nothing changed)");
                return Ok(());
            }
            let outputs = outputs.ok_or(AdminError::MissingOutput(
                "--outputs (needed unless --dry-run)".into(),
            ))?;
            let outputs = StackOutputs::from_json(&read(&outputs)?)?;
            let targets = Targets::from_outputs(&outputs, &tiers)?;
            let clients = Clients::new(
                &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
            );
            set_clinic_budget(&clients, &targets.registry_table, &clinic, budget).await?;
            say!(
                "==> {clinic}: token budget {what}; the agents apply it within the registry cache's lifetime (about a minute)"
            );
            Ok(())
        }
        Command::SetStatus {
            outputs,
            clinic,
            status,
            dry_run,
        } => {
            let targets = targets(outputs.as_deref(), dry_run, &tiers)?;
            let status = match status {
                Status::Active => tenant_admin::TenantStatus::Active,
                Status::Suspended => tenant_admin::TenantStatus::Suspended,
            };
            let clinic = tenant_context::ClinicId::parse(&clinic)?;
            if dry_run {
                say!("==> set-status {clinic} {status}");
                let (pool, registry) = (&targets.user_pool_id, &targets.registry_table);
                let steps = if status == tenant_admin::TenantStatus::Active {
                    [
                        format!(
                            "{registry}: refuse unless {clinic} is onboarded and not offboarded or changing tier"
                        ),
                        format!(
                            "enable in {pool} the users {clinic}'s suspension disabled (recorded in its registry row), no others"
                        ),
                        format!("{registry}: status active, the record of disabled users cleared"),
                    ]
                } else {
                    [
                        format!(
                            "{registry}: status suspended (refused unless onboarded and not offboarded or changing tier)"
                        ),
                        format!("{registry}: record which users of {clinic} in {pool} are enabled"),
                        "disable those users and sign them out everywhere".to_owned(),
                    ]
                };
                for line in steps {
                    say!("    would: {line}");
                }
                return Ok(());
            }
            let clients = Clients::new(
                &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
            );
            let users = set_tenant_status(
                &clients,
                &targets.registry_table,
                &targets.user_pool_id,
                &clinic,
                status,
            )
            .await?;
            say!(
                "==> {clinic}: status {status}; {users} user(s) {} (the front door follows within the authorizer's cache time, about a minute; ID tokens already issued end within 15 minutes)",
                if status == tenant_admin::TenantStatus::Active {
                    "enabled: those its suspension disabled (users disabled before stay disabled)"
                } else {
                    "disabled and signed out everywhere (recorded: a resume enables these and no others)"
                }
            );
            Ok(())
        }
        Command::Onboard {
            common,
            test_users,
            reuse_id,
        } => {
            let (tenants, targets) = prepare(&common, &tiers)?;
            let plans = tenants
                .iter()
                .map(|t| Plan::onboard_reusing(t, &targets, test_users.is_some(), reuse_id))
                .collect::<Result<Vec<_>, _>>()?;
            let credentials = execute(&plans, common.dry_run, "onboard").await?;
            if let (Some(path), false) = (test_users, common.dry_run) {
                write_credentials(&path, &plans, &credentials)?;
                say!(
                    "==> Test users' credentials written to {} (mode 600)",
                    path.display()
                );
            }
            Ok(())
        }
        Command::Offboard { common, purge, yes } => {
            if purge && !yes && !common.dry_run {
                let tenants = load_tenants(&read(&common.tenants)?, &tiers)?;
                let ids: Vec<&str> = tenants.iter().map(|t| t.clinic_id.as_str()).collect();
                return Err(AdminError::Conflict(format!(
                    "offboard --purge erases {}'s patient rows, documents, memory and users for good; \
                     export them first (tenant-admin export --clinic ID --to DIR), look at the plan \
                     (--dry-run), then run again with --yes",
                    ids.join(", ")
                )));
            }
            let (tenants, targets) = prepare(&common, &tiers)?;
            let plans: Vec<Plan> = tenants
                .iter()
                .map(|t| {
                    if purge {
                        Plan::purge(t, &targets)
                    } else {
                        Plan::offboard(t, &targets)
                    }
                })
                .collect();
            execute(
                &plans,
                common.dry_run,
                if purge {
                    "offboard --purge"
                } else {
                    "offboard"
                },
            )
            .await?;
            if !common.dry_run {
                say!(
                    "==> {}; kept: the audit trail and the usage rows. The ids are tombstoned: onboarding one again needs --reuse-id",
                    if purge {
                        "Memory, documents, patient rows and users of these tenants were erased"
                    } else {
                        "Patient rows, documents and memory of these tenants were kept (retention is your decision; --purge erases them)"
                    }
                );
            }
            Ok(())
        }
        Command::Export {
            outputs,
            clinic,
            to,
            dry_run,
        } => {
            let clinic = tenant_context::ClinicId::parse(&clinic)?;
            let to = tenant_admin::export::Destination::parse(&to)?;
            let targets = targets(outputs.as_deref(), dry_run, &tiers)?;
            say!("==> export {clinic} -> {to}");
            if dry_run {
                for line in tenant_admin::export::describe(&clinic, &targets, &to) {
                    say!("    would: {line}");
                }
                return Ok(());
            }
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let clients = Clients::new(&sdk);
            let log = audit_trail::AuditLog::new(&sdk, targets.audit_log_group.clone());
            let exported = tenant_admin::export::export(
                &clinic,
                &clients,
                &targets,
                &tiers,
                &log,
                &to,
                &mut |line| {
                    say!("    {line}");
                    let _ = std::io::stdout().flush();
                },
            )
            .await?;
            say!(
                "==> {clinic}: {} file(s) in {to} (manifest.json lists them with their SHA-256)",
                exported.files.len() + 1
            );
            Ok(())
        }
    }
}

async fn user(
    change: UserCommand,
    outputs: Option<PathBuf>,
    dry_run: bool,
    tiers: &TierCatalog,
) -> Result<(), AdminError> {
    use tenant_admin::users::{UserChange, UserRequest, apply_user};
    let bad_user = |reason: String| AdminError::Conflict(format!("user: {reason}"));
    let (who, change, password_file) = match change {
        UserCommand::Add {
            who,
            role,
            email,
            test_password,
        } => {
            let user = tenant_admin::TenantUser::new(who.username.clone(), &role, email, tiers)
                .map_err(bad_user)?;
            let change = UserChange::Add {
                user,
                test_password: test_password.is_some(),
            };
            (who, change, test_password)
        }
        UserCommand::Disable { who } => (who, UserChange::Disable, None),
        UserCommand::Enable { who } => (who, UserChange::Enable, None),
        UserCommand::Remove { who } => (who, UserChange::Remove, None),
        UserCommand::SetRole { who, role } => {
            let role = tenant_context::Role::parse(&role)?;
            (who, UserChange::SetRole { role }, None)
        }
    };
    let request = UserRequest {
        clinic: tenant_context::ClinicId::parse(&who.clinic)?,
        username: who.username,
        change,
    };
    let targets = targets(outputs.as_deref(), dry_run, tiers)?;
    say!("==> user {} of {}", request.username, request.clinic);
    if dry_run {
        for line in request.describe(&targets) {
            say!("    would: {line}");
        }
        return Ok(());
    }
    let clients =
        Clients::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await);
    let outcome = apply_user(&request, &clients, &targets, tiers, &mut |line| {
        say!("    {line}");
        let _ = std::io::stdout().flush();
    })
    .await?;
    if let (Some(path), Some(password)) = (password_file, outcome.password) {
        write_private(
            &path,
            &serde_json::json!({"username": request.username, "password": password,
                "clinic_id": request.clinic.as_str()}),
        )?;
        say!(
            "==> the test user's credentials are in {} (mode 600)",
            path.display()
        );
    }
    Ok(())
}

/// The stack's resources from its outputs; placeholders for a dry run without them.
fn targets(
    outputs: Option<&Path>,
    dry_run: bool,
    tiers: &TierCatalog,
) -> Result<Targets, AdminError> {
    match (outputs, dry_run) {
        (Some(path), _) => Targets::from_outputs(&StackOutputs::from_json(&read(path)?)?, tiers),
        (None, true) => Ok(Targets::placeholders("tenantry", tiers)),
        (None, false) => Err(AdminError::MissingOutput("--outputs FILE".into())),
    }
}

fn prepare(
    common: &Common,
    tiers: &TierCatalog,
) -> Result<(Vec<tenant_admin::Tenant>, Targets), AdminError> {
    let tenants = load_tenants(&read(&common.tenants)?, tiers)?;
    let targets = match (&common.outputs, common.dry_run) {
        (Some(path), _) => Targets::from_outputs(&StackOutputs::from_json(&read(path)?)?, tiers)?,
        (None, true) => Targets::placeholders(&common.name_prefix, tiers),
        (None, false) => return Err(AdminError::MissingOutput("--outputs FILE".into())),
    };
    Ok((tenants, targets))
}

async fn execute(
    plans: &[Plan],
    dry_run: bool,
    verb: &str,
) -> Result<Vec<Option<(String, String)>>, AdminError> {
    let mut credentials = Vec::new();
    let clients = if dry_run {
        None
    } else {
        Some(Clients::new(
            &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
        ))
    };
    for (i, plan) in plans.iter().enumerate() {
        let t = &plan.tenant;
        say!(
            "==> [{}/{}] {verb} {} ({} tier)",
            i + 1,
            plans.len(),
            t.clinic_id,
            t.tier
        );
        match &clients {
            None => {
                for line in plan.describe() {
                    say!("    would: {line}");
                }
            }
            Some(clients) => {
                let outcome = apply(plan, clients, &mut |line| say!("    {line}")).await?;
                credentials.push(outcome.test_credentials);
            }
        }
        let _ = std::io::stdout().flush();
    }
    Ok(credentials)
}

fn write_credentials(
    path: &Path,
    plans: &[Plan],
    credentials: &[Option<(String, String)>],
) -> Result<(), AdminError> {
    let users: Vec<serde_json::Value> = plans
        .iter()
        .zip(credentials)
        .filter_map(|(plan, c)| {
            c.as_ref().map(|(username, password)| {
                serde_json::json!({
                    "username": username,
                    "password": password,
                    "clinic_id": plan.tenant.clinic_id.as_str(),
                    "tier": plan.tenant.tier.as_str(),
                })
            })
        })
        .collect();
    write_private(path, &serde_json::json!({ "test_users": users }))
}

/// `value` as JSON in a file only its owner may read.
fn write_private(path: &Path, value: &serde_json::Value) -> Result<(), AdminError> {
    let io = |source| AdminError::Io {
        what: path.display().to_string(),
        source,
    };
    let text = serde_json::to_string_pretty(value).map_err(|e| io(std::io::Error::other(e)))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(())
}
