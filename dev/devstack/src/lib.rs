//! The whole Tenantry system on one machine, on 127.0.0.1 only: the stand-ins (moto, dynalite,
//! a local Lambda Invoke and Runtime API) and faithful local EMULATIONS of the AWS hops the
//! project cannot run locally (API Gateway REST, AgentCore Runtime and Gateway, Memory,
//! Knowledge Base, Guardrails, and a model stand-in), each driving the project's real binaries,
//! as built: tenant-authorizer, request-proxy, tool-target and token-vending behind the Lambda
//! stand-in, agent-runtime per tier.
//!
//! A client reaches it the way it reaches a deployment: `POST <api>/invoke` with a Cognito ID
//! token. Never deployed; nothing here is evidence about AWS beyond what the emulations model
//! (each module says what differs).

pub mod assistant;
pub mod client;
pub mod faults;
pub mod load;
pub mod reply;
pub mod scenarios;
pub mod setup;
pub mod state;
pub mod usage;
pub mod web;

use std::path::PathBuf;
use std::sync::Arc;

use emulators::apigateway::{
    ApiGatewayConfig, ApiGatewayEmulation, AuthorizerSettings, Invoke, InvokeStream, TransferMode,
};
use emulators::function_host::{FunctionHost, Reply};
use emulators::lambda_api::LambdaInvokeApi;
use tenant_context::TierCatalog;
use testkit::Endpoints;
use testkit::cognito::LocalPool;
use testkit::sdk::{config_for, moto_config};

pub use setup::DemoUser;

/// Where progress lines go (the tour prints them under its steps; `devstack up` to stdout).
pub type Progress<'a> = dyn FnMut(&str) + 'a;

/// The stage of the local API.
pub const STAGE: &str = "local";
const LOCAL_API_ID: &str = "tenantrylocal";
const LOCAL_ACCOUNT: &str = "123456789012";
/// In the run directory: the instant the functions' clock shows (absent: the system time).
const CLOCK_FILE: &str = "clock";

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Standin(#[from] testkit::Error),
    #[error(transparent)]
    Tenant(#[from] tenant_context::Error),
    #[error("{what}")]
    Setup { what: String },
}

/// Where the stack keeps its files and finds the binaries.
#[derive(Debug, Clone)]
pub struct Options {
    /// The workspace root (the web chat's files are under `web/`).
    pub workspace: PathBuf,
    /// Logs, PID files and the state file.
    pub run_dir: PathBuf,
    /// Where `agent-runtime` was built.
    pub bin_dir: PathBuf,
    /// The Lambda stand-in's port (0: any free port).
    pub lambda_port: u16,
    /// The API's port (0: any free port).
    pub api_port: u16,
    /// The web chat's port (0: any free port).
    pub web_port: u16,
    /// Prefix of the stack's names on the stand-ins (pool, tables, keys).
    pub prefix: String,
    /// A real OpenAI-compatible model server instead of the model stand-in.
    pub model: Option<assistant::ModelServer>,
    /// The API's response transfer mode; `None`: the template's (streamed).
    pub transfer_mode: Option<TransferMode>,
    /// Puts a LOCAL fault proxy in front of every dependency (STS, DynamoDB, JWKS, Memory,
    /// Knowledge Base, model, Gateway), so `DevStack::faults` can take each down or slow it.
    pub faults: bool,
}

impl Options {
    /// The defaults of a workspace checkout: `.tools/run`, binaries next to this one.
    pub fn for_workspace(workspace: PathBuf, prefix: &str) -> Result<Self, StackError> {
        let bin_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .ok_or_else(|| StackError::Setup {
                what: "cannot locate the build directory".into(),
            })?;
        let lambda_port = std::env::var("TENANTRY_LAMBDA_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(27153);
        Ok(Self {
            run_dir: workspace.join(".tools/run"),
            workspace,
            bin_dir,
            lambda_port,
            api_port: 0,
            web_port: 0,
            prefix: prefix.to_owned(),
            model: assistant::ModelServer::from_env()?,
            transfer_mode: None,
            faults: false,
        })
    }
}

/// A running stack. Dropping it stops every process and emulation it started.
pub struct DevStack {
    pub endpoints: Endpoints,
    pub pool: LocalPool,
    pub users: Vec<DemoUser>,
    pub tables: testkit::dynamo::LocalTables,
    pub onboarded: setup::Onboarded,
    /// The PHI access audit trail's log group on the CloudWatch Logs stand-in.
    pub audit_group: String,
    /// The budget alerts' topic on the SNS stand-in (moto keeps what is published).
    pub budget_topic: String,
    /// The per-clinic usage counters and token budgets (DynamoDB stand-in).
    pub usage_table: String,
    pub lambda: aws_sdk_lambda::Client,
    pub api: ApiGatewayEmulation,
    /// The web chat (`web/`), with the API under its own origin.
    pub web: web::WebApp,
    pub assistant: assistant::AssistantStack,
    pub options: Options,
    /// The fault proxies (with `Options::faults`).
    pub faults: faults::Faults,
    /// request-proxy in streaming mode (the API streams); `None` when buffered.
    _proxy_host: Option<Arc<FunctionHost>>,
    _memory_vending: (LambdaInvokeApi, Arc<FunctionHost>),
    // Declared last: dropped after the API and the agents that call into it.
    functions: (LambdaInvokeApi, Vec<Arc<FunctionHost>>),
}

impl DevStack {
    /// Brings everything up on the running stand-ins (`scripts/standins.sh start`).
    pub async fn start(options: Options, progress: &mut Progress<'_>) -> Result<Self, StackError> {
        let endpoints = Endpoints::from_env()?;
        std::fs::create_dir_all(&options.run_dir).map_err(|e| StackError::Setup {
            what: format!("create {}: {e}", options.run_dir.display()),
        })?;
        let template: serde_json::Value =
            serde_json::from_str(include_str!("../../../infra/template.json")).map_err(|e| {
                StackError::Setup {
                    what: format!("infra/template.json: {e}"),
                }
            })?;

        let Seeded {
            pool,
            users,
            tables,
            usage_table,
            audit_group,
            budget_topic,
            onboarded,
        } = seed(&endpoints, &template, &options.prefix, progress).await?;

        let faults = faults::Faults::new(options.faults);
        let routes = setup::Routes::new(&endpoints, &pool, &faults).await?;
        // The Lambda stand-in first: the functions are told its address (tool-target invokes
        // token-vending through it).
        let functions_api = LambdaInvokeApi::start_on(options.lambda_port, Vec::new()).await?;
        let lambda_url = functions_api.endpoint_url();
        let lambda = aws_sdk_lambda::Client::new(&config_for(&lambda_url));
        let session_key = setup::random_key()?;
        let tiers: Vec<String> = TierCatalog::embedded()?
            .iter()
            .map(|(t, _)| t.to_string())
            .collect();
        let runtime_arns: Vec<(String, String)> = tiers
            .iter()
            .map(|t| (t.clone(), setup::runtime_arn(t)))
            .collect();
        let env = setup::function_env(&endpoints, &routes, &pool, &tables, &[], &lambda_url)?;
        let (memory_vending_api, memory_vending) =
            start_memory_vending(&env, &options, progress).await?;
        let agent_binary = options.bin_dir.join("agent-runtime");
        let memory_vending_url = memory_vending_api.endpoint_url();
        let assistant = assistant::start(
            assistant::Inputs {
                pool: &pool,
                lambda: &lambda,
                memory_vending_url: &memory_vending_url,
                runtime_arns: &runtime_arns,
                session_key: &session_key,
                agent_binary: &agent_binary,
                run_dir: &options.run_dir,
                model: options.model.as_ref(),
                endpoints: &endpoints,
                prefix: &options.prefix,
                jwks_url: &routes.jwks,
                faults: &faults,
                usage_table: &usage_table,
                budget_topic: &budget_topic,
                audit_group: &audit_group,
                registry_table: &onboarded.registry_table,
                dynamodb_url: &routes.dynamodb,
            },
            progress,
        )
        .await?;

        // Streamed or buffered answers, as the template's integration says (a test may choose);
        // request-proxy is told the same, as the template's environment tells it.
        let transfer_mode = TransferMode::from_template(&template);
        let mode = match options.transfer_mode.unwrap_or(transfer_mode) {
            TransferMode::Stream => "stream",
            TransferMode::Buffered => "buffered",
        };
        // The functions' clock: the system time until `set_clock` writes an instant.
        let clock_file = options.run_dir.join(CLOCK_FILE);
        let _ = std::fs::remove_file(&clock_file);
        let mut extra = function_settings(FunctionSettings {
            clock_file: &clock_file,
            registry_table: &onboarded.registry_table,
            runtime_endpoint: &assistant.runtime.endpoint(),
            session_key: &session_key,
            response_mode: mode,
            usage_table: &usage_table,
            audit_group: &audit_group,
            runtime_arns: &runtime_arns,
        });
        extra.extend(assistant::knowledge_base_env(&assistant, &faults).await?);
        let env = setup::function_env(&endpoints, &routes, &pool, &tables, &extra, &lambda_url)?;
        let hosts =
            setup::start_functions(&functions_api, &env, &options.bin_dir, &options.run_dir)
                .await?;
        progress(&format!(
            "Lambda STAND-IN (a local Invoke API, each function its built binary under a local Runtime API) at {}: the real tenant-authorizer, tool-target, token-vending, pre-token, request-proxy (buffered) (logs: {}/<function>.log)",
            lambda_url,
            options.run_dir.display()
        ));

        // Streamed answers come from request-proxy under a Runtime API host of its own, whose
        // streamed reply is passed on as Lambda's InvokeWithResponseStream does; buffered calls
        // go to the Lambda stand-in's Invoke API.
        let proxy_host = if mode == "stream" {
            let host = FunctionHost::start(
                &options.bin_dir.join("request-proxy"),
                "request-proxy",
                &setup::request_proxy_env(&env),
                &options.run_dir.join("request-proxy-streaming.log"),
            )
            .await?;
            progress(&format!(
                "request-proxy (real binary, response streaming) under a local Lambda Runtime API at {}",
                host.runtime_api()
            ));
            Some(Arc::new(host))
        } else {
            None
        };
        let transfer_mode = options.transfer_mode.unwrap_or(transfer_mode);
        let api = start_api(
            &endpoints,
            &template,
            &lambda,
            proxy_host.clone(),
            transfer_mode,
            &options,
            progress,
        )
        .await?;
        let web = web::WebApp::start(
            &options.workspace.join("web"),
            web::SiteConfig {
                api_root: api.root_url(),
                stage: STAGE,
                cognito_endpoint: endpoints.moto_url.clone(),
                client_id: pool.client_id.clone(),
                region: testkit::STANDIN_REGION.into(),
                users: &users,
            },
            options.web_port,
        )
        .await?;
        progress(&format!(
            "web chat at {} (web/, the API under the same origin; sign-in with the user pool on the moto STAND-IN)",
            web.url()
        ));
        Ok(Self {
            audit_group,
            budget_topic,
            usage_table,
            endpoints,
            pool,
            users,
            tables,
            onboarded,
            lambda,
            api,
            web,
            assistant,
            options,
            faults,
            _proxy_host: proxy_host,
            _memory_vending: (memory_vending_api, memory_vending),
            functions: (functions_api, hosts),
        })
    }

    pub fn user(&self, clinic: &str) -> Result<&DemoUser, StackError> {
        self.users
            .iter()
            .find(|u| u.clinic_id == clinic)
            .ok_or_else(|| StackError::Setup {
                what: format!("no demo user for clinic {clinic}"),
            })
    }

    /// The MCP URL of `tier`'s Gateway emulation.
    pub fn gateway_url(&self, tier: &str) -> Result<String, StackError> {
        self.assistant
            .gateways
            .iter()
            .find(|(t, _)| t == tier)
            .map(|(_, g)| g.url())
            .ok_or_else(|| StackError::Setup {
                what: format!("no {tier} Gateway"),
            })
    }

    /// A fresh ID token of `clinic`'s (first) demo user.
    pub async fn sign_in(&self, clinic: &str) -> Result<String, StackError> {
        let user = self.user(clinic)?;
        Ok(self.pool.sign_in(&user.username, &user.password).await?)
    }

    /// A fresh ID token of the demo user `username` (e.g. `setup::COLLEAGUE`'s).
    pub async fn sign_in_as(&self, username: &str) -> Result<String, StackError> {
        let user = self
            .users
            .iter()
            .find(|u| u.username == username)
            .ok_or_else(|| StackError::Setup {
                what: format!("no demo user {username}"),
            })?;
        Ok(self.pool.sign_in(&user.username, &user.password).await?)
    }

    /// tenant-admin's clients on this stack's stand-ins and emulations.
    pub fn admin_clients(&self) -> Result<tenant_admin::apply::Clients, StackError> {
        setup::admin_clients(
            &self.endpoints,
            Some(setup::AdminEmulations {
                memory: &self.assistant.memory.endpoint(),
                ingestion: &self.assistant.ingestion.endpoint(),
            }),
        )
    }

    /// Runs a `tenant-admin user` change on this stack, the code path of the deployed
    /// command; returns its progress lines and outcome.
    pub async fn user_change(
        &self,
        request: &tenant_admin::users::UserRequest,
    ) -> Result<(Vec<String>, tenant_admin::users::UserOutcome), tenant_admin::AdminError> {
        let clients = self.tenant_admin_clients()?;
        let mut lines = Vec::new();
        let outcome = tenant_admin::users::apply_user(
            request,
            &clients,
            &self.onboarded.targets,
            &TierCatalog::embedded()?,
            &mut |line| lines.push(line),
        )
        .await?;
        Ok((lines, outcome))
    }

    /// Moves `clinic` to tier `to` with `tenant-admin change-tier`'s own code on this stack
    /// (documents and knowledge bases included); returns its progress lines.
    pub async fn change_tier(
        &self,
        clinic: &str,
        to: &str,
    ) -> Result<Vec<String>, tenant_admin::AdminError> {
        let clients = self.tenant_admin_clients()?;
        let tiers = TierCatalog::embedded()?;
        let change = tenant_admin::tier_change::TierChange {
            clinic: tenant_context::ClinicId::parse(clinic)?,
            to: tiers.tier(to)?,
        };
        let wait = tenant_admin::documents::SyncWait {
            timeout: std::time::Duration::from_secs(30),
            every: std::time::Duration::from_millis(50),
        };
        let mut lines = Vec::new();
        tenant_admin::tier_change::change_tier(
            &change,
            &clients,
            &self.onboarded.targets,
            &tiers,
            wait,
            &mut |line| lines.push(line),
        )
        .await?;
        Ok(lines)
    }

    /// Exports `clinic` to the folder `to` with `tenant-admin export`'s own code on this stack;
    /// returns its progress lines and what it wrote.
    pub async fn export(
        &self,
        clinic: &str,
        to: &std::path::Path,
    ) -> Result<(Vec<String>, tenant_admin::export::Exported), tenant_admin::AdminError> {
        let clients = self.tenant_admin_clients()?;
        let log = audit_trail::AuditLog::new(
            &testkit::sdk::moto_config(&self.endpoints),
            self.audit_group.clone(),
        );
        let mut lines = Vec::new();
        let exported = tenant_admin::export::export(
            &tenant_context::ClinicId::parse(clinic)?,
            &clients,
            &self.onboarded.targets,
            &TierCatalog::embedded()?,
            &log,
            &tenant_admin::export::Destination::Folder(to.to_owned()),
            &mut |line| lines.push(line),
        )
        .await?;
        Ok((lines, exported))
    }

    /// Offboards the demo clinic `clinic` with `tenant-admin offboard`'s own plan (`purge`:
    /// `--purge`); returns its progress lines.
    pub async fn offboard(
        &self,
        clinic: &str,
        purge: bool,
    ) -> Result<Vec<String>, tenant_admin::AdminError> {
        let tenant = self.demo_tenant(clinic)?;
        let targets = &self.onboarded.targets;
        let plan = if purge {
            tenant_admin::Plan::purge(&tenant, targets)
        } else {
            tenant_admin::Plan::offboard(&tenant, targets)
        };
        let mut lines = Vec::new();
        tenant_admin::apply::apply(&plan, &self.tenant_admin_clients()?, &mut |line| {
            lines.push(line)
        })
        .await?;
        Ok(lines)
    }

    /// Onboards the demo clinic `clinic` again (`reuse_id`: `--reuse-id`); its progress lines.
    pub async fn onboard_again(
        &self,
        clinic: &str,
        reuse_id: bool,
    ) -> Result<Vec<String>, tenant_admin::AdminError> {
        let tenant = self.demo_tenant(clinic)?;
        let plan =
            tenant_admin::Plan::onboard_reusing(&tenant, &self.onboarded.targets, false, reuse_id)?;
        let mut lines = Vec::new();
        tenant_admin::apply::apply(&plan, &self.tenant_admin_clients()?, &mut |line| {
            lines.push(line)
        })
        .await?;
        Ok(lines)
    }

    /// The demo tenant `clinic` as the tenants file has it, without its user (the devstack
    /// made the users itself).
    fn demo_tenant(&self, clinic: &str) -> Result<tenant_admin::Tenant, tenant_admin::AdminError> {
        let mut tenant = testkit::tenants::demo_tenants()
            .map_err(|e| tenant_admin::AdminError::Conflict(format!("the demo tenants: {e}")))?
            .into_iter()
            .find(|t| t.clinic_id.as_str() == clinic)
            .ok_or_else(|| {
                tenant_admin::AdminError::Conflict(format!("{clinic} is no demo tenant"))
            })?;
        tenant.user = None;
        Ok(tenant)
    }

    fn tenant_admin_clients(
        &self,
    ) -> Result<tenant_admin::apply::Clients, tenant_admin::AdminError> {
        self.admin_clients()
            .map_err(|e| tenant_admin::AdminError::Conflict(format!("the devstack's clients: {e}")))
    }

    /// Suspends (or resumes) a tenant as tenant-admin does: the registry status, and its users
    /// disabled and signed out (or the users its suspension disabled enabled again). Returns
    /// how many users it disabled or enabled.
    pub async fn set_tenant_status(
        &self,
        clinic: &str,
        status: tenant_admin::TenantStatus,
    ) -> Result<usize, StackError> {
        let clients = self.admin_clients()?;
        let id = tenant_context::ClinicId::parse(clinic).map_err(|e| StackError::Setup {
            what: format!("clinic {clinic}: {e}"),
        })?;
        tenant_admin::apply::set_tenant_status(
            &clients,
            &self.onboarded.registry_table,
            &self.pool.pool_id,
            &id,
            status,
        )
        .await
        .map_err(|e| StackError::Setup {
            what: format!("set {clinic} {status}: {e}"),
        })
    }

    /// Sets the time the tool target sees (an RFC 3339 instant), or back to the system time
    /// with `None`. Debug builds of the tool target only (what the devstack runs).
    pub fn set_clock(&self, instant: Option<&str>) -> Result<(), StackError> {
        let path = self.options.run_dir.join(CLOCK_FILE);
        let done = match instant {
            Some(t) => std::fs::write(&path, t),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        done.map_err(|e| StackError::Setup {
            what: format!("set the clock in {}: {e}", path.display()),
        })
    }

    /// Every emulated AWS API of the stack with what its service-model check saw: the deployed
    /// code's requests must all pass (the tests and the tour assert it).
    pub fn model_checks(&self) -> Vec<(&'static str, emulators::aws_model::Checks)> {
        let a = &self.assistant;
        vec![
            ("AgentCore Memory", a.memory.model_checks()),
            ("InvokeAgentRuntime", a.runtime.model_checks()),
            ("ApplyGuardrail", a.guardrail.model_checks()),
            ("Knowledge Base Retrieve", a.knowledge_base.model_checks()),
            ("Lambda Invoke (functions)", self.functions.0.model_checks()),
            (
                "Lambda Invoke (memory vending)",
                self._memory_vending.0.model_checks(),
            ),
        ]
    }

    /// What the service models refused, one line each with the API (empty when conformant).
    pub fn model_refusals(&self) -> Vec<String> {
        self.model_checks()
            .into_iter()
            .flat_map(|(api, checks)| {
                checks
                    .refused()
                    .into_iter()
                    .map(move |r| format!("{api}: {r}"))
            })
            .collect()
    }

    pub fn lambda_url(&self) -> String {
        self.functions.0.endpoint_url()
    }

    /// What a client or script needs to use the stack.
    pub fn info(&self) -> state::StackInfo {
        let a = &self.assistant;
        state::StackInfo {
            api_url: self.api.invoke_url(),
            web_url: self.web.url(),
            moto_url: self.endpoints.moto_url.clone(),
            user_pool_id: self.pool.pool_id.clone(),
            client_id: self.pool.client_id.clone(),
            lambda_url: self.lambda_url(),
            runtime_url: a.runtime.endpoint(),
            model_url: a.model.base_url(),
            memory_url: a.memory.endpoint(),
            knowledge_base_url: a.knowledge_base.endpoint(),
            guardrail_url: a.guardrail.endpoint(),
            gateways: a
                .gateways
                .iter()
                .map(|(t, g)| (t.clone(), g.url()))
                .collect(),
            agents: a
                .agents
                .iter()
                .map(|(t, p, log)| state::AgentInfo {
                    tier: t.clone(),
                    url: p.url().to_owned(),
                    log: log.clone(),
                })
                .collect(),
            users: self.users.clone(),
            pid: std::process::id(),
        }
    }
}

/// How the API Gateway emulation reaches its functions: buffered calls through the Lambda
/// stand-in's Invoke API; streamed answers from request-proxy under a Runtime API host of its
/// own (`proxy_host`), passed on as Lambda's InvokeWithResponseStream does.
fn invokers(
    lambda: &aws_sdk_lambda::Client,
    proxy_host: Option<Arc<FunctionHost>>,
) -> (Invoke, InvokeStream) {
    let invoke: Invoke = {
        let lambda = lambda.clone();
        Arc::new(move |function: String, payload: serde_json::Value| {
            let lambda = lambda.clone();
            Box::pin(
                async move { emulators::lambda::invoke_json(&lambda, &function, &payload).await },
            )
        })
    };
    let invoke_stream: InvokeStream = {
        let host = proxy_host;
        Arc::new(move |_function: String, payload: serde_json::Value| {
            let host = host.clone();
            Box::pin(async move {
                let Some(host) = host else {
                    return Err(testkit::Error::Config(
                        "no streaming function host in buffered mode".into(),
                    ));
                };
                let mut replies = host.invoke(payload).await?;
                let (tx, rx) = tokio::sync::mpsc::channel(16);
                tokio::spawn(async move {
                    while let Some(r) = replies.recv().await {
                        let item = match r {
                            Reply::Chunk(b) => Ok(b),
                            Reply::Failed(e) => Err(e.to_string()),
                        };
                        if tx.send(item).await.is_err() {
                            return;
                        }
                    }
                });
                Ok(rx)
            })
        })
    };
    (invoke, invoke_stream)
}

/// What the functions are told beyond their AWS endpoints, as the template's environment tells
/// them.
struct FunctionSettings<'a> {
    clock_file: &'a std::path::Path,
    registry_table: &'a str,
    runtime_endpoint: &'a str,
    session_key: &'a str,
    response_mode: &'a str,
    usage_table: &'a str,
    audit_group: &'a str,
    runtime_arns: &'a [(String, String)],
}

fn function_settings(s: FunctionSettings<'_>) -> Vec<(String, String)> {
    let mut extra: Vec<(String, String)> = vec![
        (
            "TENANTRY_DEV_CLOCK_FILE".into(),
            s.clock_file.display().to_string(),
        ),
        ("TENANTRY_REGISTRY_TABLE".into(), s.registry_table.into()),
        (
            tenant_registry::ENV_REGISTRY_CACHE_SECS.into(),
            setup::REGISTRY_CACHE_SECS.into(),
        ),
        (
            "TENANTRY_RUNTIME_ENDPOINT".into(),
            s.runtime_endpoint.into(),
        ),
        ("TENANTRY_SESSION_KEY".into(), s.session_key.into()),
        (
            request_proxy::config::ENV_RESPONSE_MODE.into(),
            s.response_mode.into(),
        ),
        (usage_meter::ENV_USAGE_TABLE.into(), s.usage_table.into()),
        (
            audit_trail::ENV_AUDIT_LOG_GROUP.into(),
            s.audit_group.into(),
        ),
    ];
    for (tier, arn) in s.runtime_arns {
        extra.push((
            format!(
                "{}{}",
                request_proxy::config::ENV_RUNTIME_ARN_PREFIX,
                tier.to_ascii_uppercase()
            ),
            arn.clone(),
        ));
    }
    extra
}

/// The data a stack starts from, on the stand-ins.
struct Seeded {
    pool: LocalPool,
    users: Vec<DemoUser>,
    tables: testkit::dynamo::LocalTables,
    usage_table: String,
    /// The PHI access audit trail's log group (CloudWatch Logs on moto).
    audit_group: String,
    /// The budget alerts' topic (SNS on moto).
    budget_topic: String,
    onboarded: setup::Onboarded,
}

/// The demo users, the synthetic tables and the tenants onboarded by tenant-admin.
async fn seed(
    endpoints: &Endpoints,
    template: &serde_json::Value,
    prefix: &str,
    progress: &mut Progress<'_>,
) -> Result<Seeded, StackError> {
    let (pool, users) = setup::users(endpoints, prefix).await?;
    progress(&format!(
        "Cognito user pool {} on the moto STAND-IN: {} demo users (one per clinic)",
        pool.pool_id,
        users.len()
    ));
    let tables = testkit::dynamo::create_and_load(endpoints, prefix).await?;
    let usage_table = testkit::dynamo::create_usage_table(endpoints, prefix).await?;
    progress(&format!(
        "DynamoDB STAND-IN (dynalite): {} and {} with the synthetic data, {} for usage counters",
        tables.patient_table, tables.clinic_table, usage_table
    ));
    let audit_group = testkit::audit_group::create(endpoints, prefix).await?;
    progress(&format!(
        "CloudWatch Logs STAND-IN (moto): log group {audit_group} for the PHI access audit trail"
    ));
    let budget_topic = testkit::sns::create_topic(endpoints, prefix).await?;
    progress(&format!(
        "SNS STAND-IN (moto): topic {budget_topic} for the clinics' token budget alerts"
    ));
    let onboarded = setup::onboard(
        endpoints,
        &pool,
        setup::Tables {
            clinic: &tables.clinic_table,
            patient: &tables.patient_table,
            usage: &usage_table,
            audit_group: &audit_group,
        },
        template,
        prefix,
    )
    .await?;
    progress(&format!(
        "tenant-admin onboarded {} tenants: an API key each in its tier's usage plan (API Gateway STAND-IN on moto), registry {}",
        onboarded.keys.len(),
        onboarded.registry_table,
    ));
    Ok(Seeded {
        pool,
        users,
        tables,
        usage_table,
        audit_group,
        budget_topic,
        onboarded,
    })
}

/// The agents' own token vending deployment, as on AWS (the function is deployed once per
/// calling role): the same binary with the memory scope only, under a Lambda Invoke API of its
/// own, so the agents reach this deployment and no other function (on AWS their role may
/// invoke only it).
async fn start_memory_vending(
    function_env: &[(String, String)],
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<(LambdaInvokeApi, Arc<FunctionHost>), StackError> {
    let env = setup::memory_vending_env(function_env);
    let host = Arc::new(
        FunctionHost::start(
            &options.bin_dir.join("token-vending"),
            setup::MEMORY_VENDING,
            &env,
            &options.run_dir.join("memory-vending.log"),
        )
        .await?,
    );
    let api =
        LambdaInvokeApi::start(vec![(setup::MEMORY_VENDING.to_owned(), host.clone())]).await?;
    progress(&format!(
        "{} (the real token-vending binary, memory scope only) for the agents, under a Lambda Invoke API STAND-IN at {}",
        setup::MEMORY_VENDING,
        api.endpoint_url()
    ));
    Ok((api, host))
}

/// The API Gateway emulation in front of the real authorizer and request-proxy, as the
/// template configures the API (routes, authorizer, transfer mode).
async fn start_api(
    endpoints: &Endpoints,
    template: &serde_json::Value,
    lambda: &aws_sdk_lambda::Client,
    proxy_host: Option<Arc<FunctionHost>>,
    transfer_mode: TransferMode,
    options: &Options,
    progress: &mut Progress<'_>,
) -> Result<ApiGatewayEmulation, StackError> {
    let (invoke, invoke_stream) = invokers(lambda, proxy_host);
    let api = ApiGatewayEmulation::start(
        ApiGatewayConfig {
            routes: emulators::apigateway::routes_from_template(template),
            stage: STAGE.into(),
            api_id: LOCAL_API_ID.into(),
            account_id: LOCAL_ACCOUNT.into(),
            region: testkit::STANDIN_REGION.into(),
            authorizer: AuthorizerSettings::from_template(template, "tenant-authorizer")?,
            proxy_function: "request-proxy".into(),
            invoke,
            invoke_stream,
            transfer_mode,
            apigateway: aws_sdk_apigateway::Client::new(&moto_config(endpoints)),
        },
        options.api_port,
    )
    .await?;
    progress(&format!(
        "API Gateway REST EMULATION at {} (TOKEN authorizer cached 60 s, API keys from the authorizer, usage plans from the stand-in, answers {})",
        api.invoke_url(),
        match transfer_mode {
            TransferMode::Stream => "streamed",
            TransferMode::Buffered => "buffered",
        }
    ));
    Ok(api)
}
