//! The stack's state on the stand-ins: the user pool and the demo users, the tables with the
//! synthetic data, the usage plans of the template with every demo tenant onboarded by
//! tenant-admin, and the functions behind the Lambda Invoke API stand-in.

use std::path::Path;
use std::sync::Arc;

use emulators::function_host::FunctionHost;
use emulators::lambda_api::LambdaInvokeApi;
use serde::{Deserialize, Serialize};
use tenant_context::TierCatalog;
use testkit::Endpoints;
use testkit::cognito::{LocalPool, NewUser, throwaway_password};
use testkit::sdk::{config_for, moto_config};

use crate::StackError;

/// The TVM role the local token-vending function assumes on the STS stand-in (moto's default
/// account; moto checks neither the role nor its policies).
/// The tenant roles the two token vending deployments assume (moto checks no trust policy).
const LOCAL_TENANT_DATA_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/tenantry-tenant-data";
const LOCAL_TENANT_MEMORY_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/tenantry-tenant-memory";

/// The name of the agents' token vending deployment (memory scope only), as on AWS.
pub const MEMORY_VENDING: &str = "memory-vending";
/// The clinic the tour suspends (tenant-admin's suspension), to show its refusal.
pub const SUSPENDED_CLINIC: &str = "clinic-d";
/// A second user of one clinic (clinic, username, role): memory is kept per user, also
/// between colleagues.
pub const COLLEAGUE: (&str, &str, &str) = ("hospital-x", "nurse.nia@hospital-x.example", "nurse");

/// One demo clinic's first user: signs in with this password on the stand-in pool only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    pub clinic_id: String,
    pub clinic_name: String,
    pub tier: String,
    pub role: String,
    pub username: String,
    pub password: String,
}

/// The runtime ARN of a tier's LOCAL runtime (the Runtime emulation routes by it).
pub fn runtime_arn(tier: &str) -> String {
    format!("arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/tenantry_{tier}-LOCALSTAND")
}

/// How long the functions and agents keep a registry answer here: one second instead of the
/// deployed minute, so that an operator's change (a suspension, a tier change, a budget) shows
/// at once on the local stack. API Gateway's policy cache stays at the template's 60 s.
pub const REGISTRY_CACHE_SECS: &str = "1";

pub fn memory_id(tier: &str) -> String {
    emulators::memory::local_memory_id(tier)
}

/// 32 random bytes, base64: a key for this run (page tokens, session ids).
pub fn random_key() -> Result<String, StackError> {
    use base64::Engine as _;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| StackError::Setup {
        what: format!("no randomness: {e}"),
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key))
}

/// A pool with one user per demo clinic (the tenant attributes set by the administrator).
pub async fn users(
    endpoints: &Endpoints,
    name: &str,
) -> Result<(LocalPool, Vec<DemoUser>), StackError> {
    let pool = LocalPool::create(endpoints, name).await?;
    let mut users = Vec::new();
    for clinic in testkit::tenants::demo_tenants()? {
        let user = clinic.user.as_ref().ok_or_else(|| StackError::Setup {
            what: format!("demo tenant {} has no user", clinic.clinic_id),
        })?;
        let password = throwaway_password();
        pool.create_user(&NewUser {
            username: &user.username,
            password: &password,
            attributes: vec![
                ("tier", clinic.tier.as_str()),
                ("clinic_id", clinic.clinic_id.as_str()),
                ("role", user.role.as_str()),
            ],
        })
        .await?;
        users.push(DemoUser {
            clinic_id: clinic.clinic_id.to_string(),
            clinic_name: clinic.name.clone(),
            tier: clinic.tier.to_string(),
            role: user.role.to_string(),
            username: user.username.clone(),
            password,
        });
    }
    let (clinic, username, role) = COLLEAGUE;
    let first = users
        .iter()
        .find(|u| u.clinic_id == clinic)
        .cloned()
        .ok_or_else(|| StackError::Setup {
            what: format!("the demo tenants have no {clinic}"),
        })?;
    let password = throwaway_password();
    pool.create_user(&NewUser {
        username,
        password: &password,
        attributes: vec![
            ("tier", first.tier.as_str()),
            ("clinic_id", clinic),
            ("role", role),
        ],
    })
    .await?;
    users.push(DemoUser {
        username: username.to_owned(),
        role: role.to_owned(),
        password,
        ..first
    });
    Ok((pool, users))
}

/// The API keys tenant-admin created, and the registry it wrote.
pub struct Onboarded {
    pub registry_table: String,
    /// What tenant-admin was given (as it reads a stack's outputs), for later commands.
    pub targets: tenant_admin::Targets,
    /// (clinic id, API key value)
    pub keys: Vec<(String, String)>,
}

/// Where tenant-admin reaches the emulations (AgentCore Memory; the knowledge bases' ingestion).
#[derive(Debug, Clone, Copy)]
pub struct AdminEmulations<'a> {
    pub memory: &'a str,
    pub ingestion: &'a str,
}

/// tenant-admin's clients, on the stand-ins (API Gateway, Cognito and S3 on moto, DynamoDB on
/// dynalite, AgentCore Memory and the knowledge bases' ingestion on their emulations).
/// Onboarding reaches neither emulation: before they run, `None` gives an address nothing
/// listens on (port 9, discard), so a stray call fails rather than reaching anything.
pub fn admin_clients(
    endpoints: &Endpoints,
    emulations: Option<AdminEmulations<'_>>,
) -> Result<tenant_admin::apply::Clients, StackError> {
    const NOWHERE: &str = "http://127.0.0.1:9";
    let moto = moto_config(endpoints);
    let dynamodb_url = endpoints
        .dynamodb_url
        .clone()
        .ok_or_else(|| StackError::Setup {
            what: "TENANTRY_DYNAMODB_URL is not set (start the stand-ins)".into(),
        })?;
    Ok(tenant_admin::apply::Clients {
        apigateway: aws_sdk_apigateway::Client::new(&moto),
        dynamodb: aws_sdk_dynamodb::Client::new(&config_for(&dynamodb_url)),
        cognito: aws_sdk_cognitoidentityprovider::Client::new(&moto),
        memory: aws_sdk_bedrockagentcore::Client::new(&config_for(
            emulations.map_or(NOWHERE, |e| e.memory),
        )),
        // moto serves buckets by path, not by host name.
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&moto)
                .force_path_style(true)
                .build(),
        ),
        bedrock_agent: aws_sdk_bedrockagent::Client::new(&config_for(
            emulations.map_or(NOWHERE, |e| e.ingestion),
        )),
    })
}

/// The tables and the log group tenant-admin reads and writes.
pub struct Tables<'a> {
    pub clinic: &'a str,
    pub patient: &'a str,
    pub usage: &'a str,
    pub audit_group: &'a str,
}

/// The usage plans as the template declares them (throttle and quota per tier), created on the
/// API Gateway stand-in; then every demo tenant onboarded with tenant-admin (its own API key
/// in its tier's plan, registry and clinic rows), and `SUSPENDED_CLINIC` suspended.
pub async fn onboard(
    endpoints: &Endpoints,
    pool: &LocalPool,
    tables: Tables<'_>,
    template: &serde_json::Value,
    prefix: &str,
) -> Result<Onboarded, StackError> {
    use aws_sdk_apigateway::types::{QuotaPeriodType, QuotaSettings, ThrottleSettings};
    let clients = admin_clients(endpoints, None)?;
    let admin = |e: tenant_admin::AdminError| StackError::Setup {
        what: format!("onboarding: {e}"),
    };
    let mut usage_plans = std::collections::BTreeMap::new();
    for (tier, _) in TierCatalog::embedded()?.iter() {
        let plan = usage_plan_of(template, tier.as_str())?;
        let quota = &plan["Quota"];
        let created = clients
            .apigateway
            .create_usage_plan()
            .name(format!("{prefix}-{tier}"))
            .throttle(
                ThrottleSettings::builder()
                    .rate_limit(plan["Throttle"]["RateLimit"].as_f64().unwrap_or(0.0))
                    .burst_limit(plan["Throttle"]["BurstLimit"].as_i64().unwrap_or(0) as i32)
                    .build(),
            )
            .quota(
                QuotaSettings::builder()
                    .limit(quota["Limit"].as_i64().unwrap_or(0) as i32)
                    .period(QuotaPeriodType::from(
                        quota["Period"].as_str().unwrap_or("DAY"),
                    ))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| StackError::Setup {
                what: format!("CreateUsagePlan on the stand-in: {e}"),
            })?;
        usage_plans.insert(tier.clone(), created.id().unwrap_or_default().to_owned());
    }
    let registry_table = testkit::dynamo::create_registry(endpoints, prefix, &[]).await?;
    let targets = tenant_admin::Targets {
        name_prefix: prefix.into(),
        user_pool_id: pool.pool_id.clone(),
        registry_table: registry_table.clone(),
        clinic_table: tables.clinic.to_owned(),
        patient_table: tables.patient.to_owned(),
        usage_table: tables.usage.to_owned(),
        audit_log_group: tables.audit_group.to_owned(),
        // The template's default retention (six years).
        audit_retention_days: 2192,
        usage_plans,
        memories: TierCatalog::embedded()?
            .iter()
            .map(|(tier, _)| (tier.clone(), memory_id(tier.as_str())))
            .collect(),
        documents: TierCatalog::embedded()?
            .iter()
            .map(|(tier, _)| {
                (
                    tier.clone(),
                    tenant_admin::documents::TierDocuments {
                        bucket: crate::assistant::documents_bucket(prefix, tier.as_str()),
                        knowledge_base_id: emulators::knowledge_base::demo_knowledge_base_id(
                            tier.as_str(),
                        ),
                        data_source_id: emulators::knowledge_base::demo_data_source_id(
                            tier.as_str(),
                        ),
                    },
                )
            })
            .collect(),
        test_stack: true,
    };
    let mut keys = Vec::new();
    for mut tenant in testkit::tenants::demo_tenants()? {
        // The users exist already (created with known passwords); onboarding does the rest.
        tenant.user = None;
        let plan = tenant_admin::Plan::onboard(&tenant, &targets, false).map_err(admin)?;
        let outcome = tenant_admin::apply::apply(&plan, &clients, &mut |_| {})
            .await
            .map_err(admin)?;
        let id = outcome.api_key_id.unwrap_or_default();
        let key = clients
            .apigateway
            .get_api_key()
            .api_key(&id)
            .include_value(true)
            .send()
            .await
            .map_err(|e| StackError::Setup {
                what: format!("GetApiKey on the stand-in: {e}"),
            })?;
        keys.push((
            tenant.clinic_id.to_string(),
            key.value().unwrap_or_default().to_owned(),
        ));
    }
    Ok(Onboarded {
        registry_table,
        targets,
        keys,
    })
}

/// The template's usage plan of `tier` (its `Tier` tag says which).
fn usage_plan_of<'t>(
    template: &'t serde_json::Value,
    tier: &str,
) -> Result<&'t serde_json::Value, StackError> {
    template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, r)| r)
        .filter(|r| r["Type"] == "AWS::ApiGateway::UsagePlan")
        .map(|r| &r["Properties"])
        .find(|p| {
            p["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["Key"] == "Tier" && t["Value"] == tier)
        })
        .ok_or_else(|| StackError::Setup {
            what: format!("infra/template.json has no usage plan tagged Tier={tier}"),
        })
}

/// The configuration every function gets: this stack's user pool, STS on moto, DynamoDB on
/// dynalite, Lambda (tool-target -> token-vending) on the emulator at `port`, plus `extra`.
/// Where the functions reach the services that fault injection can take away (the services'
/// own addresses, or their fault proxies').
#[derive(Debug, Clone)]
pub struct Routes {
    pub sts: String,
    pub dynamodb: String,
    pub jwks: String,
    /// CloudWatch Logs (the audit trail).
    pub logs: String,
}

impl Routes {
    pub async fn new(
        endpoints: &Endpoints,
        pool: &LocalPool,
        faults: &crate::faults::Faults,
    ) -> Result<Self, StackError> {
        use crate::faults::Service;
        let dynamodb = endpoints
            .dynamodb_url
            .clone()
            .ok_or_else(|| StackError::Setup {
                what: "TENANTRY_DYNAMODB_URL is not set (start the stand-ins)".into(),
            })?;
        Ok(Self {
            sts: faults.route(Service::Sts, &endpoints.moto_url).await?,
            dynamodb: faults.route(Service::DynamoDb, &dynamodb).await?,
            jwks: faults.route(Service::Jwks, &pool.jwks_url).await?,
            logs: faults.route(Service::AuditLog, &endpoints.moto_url).await?,
        })
    }
}

pub fn function_env(
    endpoints: &Endpoints,
    routes: &Routes,
    pool: &LocalPool,
    tables: &testkit::dynamo::LocalTables,
    extra: &[(String, String)],
    lambda_url: &str,
) -> Result<Vec<(String, String)>, StackError> {
    let env = [
        ("TENANTRY_TOKEN_ISSUER", pool.issuer.clone()),
        ("TENANTRY_TOKEN_AUDIENCE", pool.client_id.clone()),
        ("TENANTRY_JWKS_URL", routes.jwks.clone()),
        // token-vending behind the Lambda stand-in serves tool-target: the data scope only.
        (
            "TENANTRY_TVM_ROLE_ARN",
            LOCAL_TENANT_DATA_ROLE_ARN.to_owned(),
        ),
        (token_vending::ENV_ALLOWED_SCOPES, "data".to_owned()),
        ("TENANTRY_CREDENTIALS_SOURCE", "vending-function".to_owned()),
        ("TENANTRY_TVM_FUNCTION", "token-vending".to_owned()),
        ("TENANTRY_PATIENT_TABLE", tables.patient_table.clone()),
        ("TENANTRY_CLINIC_TABLE", tables.clinic_table.clone()),
        ("TENANTRY_PAGE_TOKEN_KEY", random_key()?),
        ("AWS_ENDPOINT_URL_STS", routes.sts.clone()),
        ("AWS_ENDPOINT_URL_API_GATEWAY", endpoints.moto_url.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", routes.dynamodb.clone()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", routes.logs.clone()),
        ("AWS_ENDPOINT_URL_LAMBDA", lambda_url.to_owned()),
        ("AWS_REGION", testkit::STANDIN_REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "standin".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "standin".to_owned()),
    ];
    Ok(env
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(extra.iter().cloned())
        .collect())
}

/// request-proxy's environment: the functions' with its own role's local stand-in, the only
/// principal the Runtime emulation lets invoke the runtimes.
pub fn request_proxy_env(base: &[(String, String)]) -> Vec<(String, String)> {
    let own = emulators::iam::LocalPrincipal::request_proxy().env();
    let mut env: Vec<(String, String)> = base
        .iter()
        .filter(|(k, _)| !own.iter().any(|(name, _)| name == k))
        .cloned()
        .collect();
    env.extend(own.into_iter().map(|(k, v)| (k.to_owned(), v)));
    env
}

/// The environment of the agents' token vending deployment: the functions' environment with
/// its own tenant role and the memory scope only.
pub fn memory_vending_env(base: &[(String, String)]) -> Vec<(String, String)> {
    base.iter()
        .filter(|(k, _)| k != "TENANTRY_TVM_ROLE_ARN" && k != token_vending::ENV_ALLOWED_SCOPES)
        .cloned()
        .chain([
            (
                "TENANTRY_TVM_ROLE_ARN".to_owned(),
                LOCAL_TENANT_MEMORY_ROLE_ARN.to_owned(),
            ),
            (
                token_vending::ENV_ALLOWED_SCOPES.to_owned(),
                "memory".to_owned(),
            ),
        ])
        .collect()
}

/// The functions a deployment has behind the Lambda Invoke API, each its built binary in a
/// process of its own under a local Runtime API, served by `api` with `env`. request-proxy
/// here answers buffered, whatever the API's mode (a streamed API has its own streaming
/// request-proxy under a host of its own); pre-token is served for `cargo lambda invoke` by
/// hand (moto runs no Cognito triggers).
pub async fn start_functions(
    api: &LambdaInvokeApi,
    env: &[(String, String)],
    bin_dir: &Path,
    run_dir: &Path,
) -> Result<Vec<Arc<FunctionHost>>, StackError> {
    let buffered: Vec<(String, String)> = request_proxy_env(env)
        .into_iter()
        .filter(|(k, _)| k != request_proxy::config::ENV_RESPONSE_MODE)
        .chain([(
            request_proxy::config::ENV_RESPONSE_MODE.to_owned(),
            "buffered".to_owned(),
        )])
        .collect();
    let functions = [
        ("tenant-authorizer", env),
        ("tool-target", env),
        ("token-vending", env),
        ("pre-token", env),
        ("request-proxy", &buffered[..]),
    ];
    let mut hosts = Vec::new();
    for (name, env) in functions {
        let host = Arc::new(
            FunctionHost::start(
                &bin_dir.join(name),
                name,
                env,
                &run_dir.join(format!("{name}.log")),
            )
            .await?,
        );
        api.add(name, host.clone());
        hosts.push(host);
    }
    Ok(hosts)
}
