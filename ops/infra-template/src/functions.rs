//! The four Lambda functions, each with its own least-privilege role and log group, and the
//! tenant-scoped role the token vending machine hands out.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::cfn::{checkov_skips, get_att, pascal, reference, ssm_parameter_arn, sub, tag_list};
pub use crate::function_ids::{ARCHITECTURE, FUNCTIONS, Function, FunctionId, STREAM_TIMEOUT_SECS};
use crate::iam::{document, lambda_trust, statement};
use crate::ids;
use crate::ids::TierIds;
use crate::shared::{
    APP_TAGS, RESERVE_CONCURRENCY, RESERVED_CONCURRENCY, issuer, jwks_url, log_group,
};
use crate::{Error, Inputs, Template, iam};
use tool_target::config as tool_target_env;

/// The token vending machine is deployed once per calling role, because Lambda tells a
/// function nothing about who invoked it: each caller's role may invoke only its own
/// deployment, each deployment vends only its callers' scopes (`TENANTRY_ALLOWED_SCOPES`) and
/// may assume only its own tenant role, whose permissions cover only those scopes. So a
/// caller that asks for another scope is refused twice: by the function and by IAM.
pub struct Vending {
    /// Its deployment (one of `FUNCTIONS`).
    pub function: FunctionId,
    /// `TENANTRY_ALLOWED_SCOPES`.
    pub scopes: &'static str,
    /// The tenant role it assumes: logical id and name suffix (`<NamePrefix>-<suffix>`).
    pub tenant_role: &'static str,
    pub tenant_role_suffix: &'static str,
    pub callers: &'static str,
}

pub const VENDING: [Vending; 2] = [
    Vending {
        function: FunctionId::TokenVending,
        // tool-target reads the tenant's rows; documents it searches with its own role through
        // Retrieve (filtered by the verified clinic), so no S3 scope is vended.
        scopes: "data",
        tenant_role: "TenantDataRole",
        tenant_role_suffix: "tenant-data",
        callers: "tool-target",
    },
    Vending {
        function: FunctionId::MemoryVending,
        scopes: "memory",
        tenant_role: "TenantMemoryRole",
        tenant_role_suffix: "tenant-memory",
        callers: "the agent runtimes",
    },
];

fn vending(id: FunctionId) -> Option<&'static Vending> {
    VENDING.iter().find(|v| v.function == id)
}

/// A tenant role's ARN, built from its name (a GetAtt would make a cycle: the role trusts the
/// function that assumes it).
pub fn tenant_role_arn(v: &Vending) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/${{NamePrefix}}-{}",
        v.tenant_role_suffix
    ))
}

/// The guardrail every web search query passes before it leaves the deployment (tool-target's;
/// web search itself stays off until a provider is configured): personal information and
/// patient ids blocked on input.
const WEB_QUERY_GUARDRAIL: &str = "WebQueryGuardrail";
const WEB_QUERY_GUARDRAIL_VERSION: &str = "WebQueryGuardrailVersion";

fn web_query_guardrail(t: &mut Template) -> Result<(), Error> {
    let block = |kind: &str| json!({ "Type": kind, "Action": "BLOCK" });
    t.resource(
        WEB_QUERY_GUARDRAIL,
        json!({
            "Type": "AWS::Bedrock::Guardrail",
            "Properties": {
                "Name": sub("${NamePrefix}-web-query-guardrail"),
                "Description": "Web search queries leave the deployment: no personal information, no patient ids",
                "BlockedInputMessaging": "A web search query must not carry personal information.",
                "BlockedOutputsMessaging": "A web search query must not carry personal information.",
                "SensitiveInformationPolicyConfig": {
                    "PiiEntitiesConfig": [
                        block("NAME"), block("ADDRESS"), block("PHONE"), block("EMAIL"),
                        block("US_SOCIAL_SECURITY_NUMBER"), block("UK_NATIONAL_HEALTH_SERVICE_NUMBER"),
                        block("CA_HEALTH_NUMBER"), block("DRIVER_ID"), block("US_PASSPORT_NUMBER")
                    ],
                    "RegexesConfig": [{
                        "Name": "patient-id",
                        "Description": "The deployment's patient ids (p-<digits>)",
                        "Pattern": "\\b[pP]-[0-9]+\\b",
                        "Action": "BLOCK"
                    }]
                },
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    t.resource(
        WEB_QUERY_GUARDRAIL_VERSION,
        json!({
            "Type": "AWS::Bedrock::GuardrailVersion",
            "Properties": {
                "GuardrailIdentifier": get_att(WEB_QUERY_GUARDRAIL, "GuardrailId"),
                "Description": "Pinned by the stack: tool-target uses this version"
            }
        }),
    )
}

pub fn add(t: &mut Template, inputs: &Inputs) -> Result<(), Error> {
    web_query_guardrail(t)?;
    for f in &FUNCTIONS {
        let log_id = f.id.log_group();
        log_group(
            t,
            &log_id,
            sub(&format!("/aws/lambda/${{NamePrefix}}-{}", f.name)),
        )?;
        let mut statements = vec![
            statement(
                "OwnLogGroupOnly",
                &["logs:CreateLogStream", "logs:PutLogEvents"],
                json!([get_att(&log_id, "Arn")]),
            ),
            // X-Ray's write actions have no resource-level permissions.
            statement(
                "Tracing",
                &["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                json!(["*"]),
            ),
        ];
        statements.extend(extra_statements(f.id, inputs));
        let role_id = f.id.role();
        t.resource(
            &role_id,
            json!({
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": lambda_trust(),
                    "Policies": [{ "PolicyName": "least-privilege", "PolicyDocument": document(statements) }],
                    "Tags": tag_list(&APP_TAGS)
                }
            }),
        )?;
        let mut env = environment(f.id, inputs)?;

        env.insert("RUST_LOG".into(), json!("info"));
        let mut function = json!({
            "Type": "AWS::Lambda::Function",
            "Metadata": function_metadata(f),
            "Properties": {
                "FunctionName": sub(&format!("${{NamePrefix}}-{}", f.name)),
                "Description": format!("Tenantry {}", f.name),
                "Runtime": "provided.al2023",
                "Architectures": [ARCHITECTURE],
                "Handler": "bootstrap",
                "Code": {
                    "S3Bucket": reference("ArtifactBucket"),
                    "S3Key": reference(&f.id.code_key()),
                    "S3ObjectVersion": reference(&f.id.code_version())
                },
                "Role": get_att(&role_id, "Arn"),
                "MemorySize": f.memory_mb,
                "Timeout": f.timeout_secs,
                "Environment": { "Variables": env },
                "TracingConfig": { "Mode": "Active" },
                "LoggingConfig": { "LogGroup": reference(&log_id) },
                "Tags": tag_list(&APP_TAGS)
            }
        });
        let startup = crate::startup::parameters(
            &function["Properties"]["Environment"]["Variables"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        if let Some(metadata) = function["Metadata"].as_object_mut() {
            metadata.insert("StartupParameters".into(), startup);
        }
        if f.behind_the_agents {
            function["Properties"]["ReservedConcurrentExecutions"] = json!({
                "Fn::If": [RESERVE_CONCURRENCY, reference(RESERVED_CONCURRENCY), reference("AWS::NoValue")]
            });
        }
        t.resource(&f.id.function(), function)?;
        t.output(
            &format!("{}FunctionName", f.id.stem()),
            &format!("{} function", f.name),
            reference(&f.id.function()),
        )?;
    }
    for v in &VENDING {
        tenant_role(t, inputs, v)?;
    }
    Ok(())
}

/// What scripts/deploy.sh builds the function from, and checkov's accepted findings.
fn function_metadata(f: &Function) -> Value {
    let mut skips = vec![
        (
            "CKV_AWS_116",
            "Invoked synchronously only (API Gateway, AgentCore Gateway, tool target); a dead-letter queue applies to asynchronous invocations.",
        ),
        (
            "CKV_AWS_117",
            "Calls only public AWS endpoints (STS, DynamoDB, Cognito JWKS, AgentCore); no VPC resources to reach. Put it in a VPC with endpoints if your policy requires it.",
        ),
        (
            "CKV_AWS_173",
            "The environment holds no secrets (names, ARNs, URLs); the secrets (the page-token key, the session key) are read from SSM SecureStrings at start-up.",
        ),
    ];
    // The functions behind the agents reserve it (the ReservedConcurrency parameter).
    if !f.behind_the_agents {
        skips.push((
            "CKV_AWS_115",
            "Reached only through the front door (API Gateway usage plans per tenant, the WAF rate rule) or Cognito sign-in, which bound it; reserving account concurrency fails on accounts with low limits.",
        ));
    }
    let mut m = checkov_skips(&skips);
    if let Some(map) = m.as_object_mut() {
        map.insert("BuildCrate".into(), json!(f.crate_name));
    }
    m
}

/// Grants beyond logs and tracing, per function.
/// The audit trail's streams, as IAM names them.
pub(crate) fn audit_streams() -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{}}}:log-stream:clinic/*",
        ids::AUDIT_LOG_GROUP
    ))
}

fn audit_group_arns() -> Value {
    json!([
        sub(&format!(
            "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{}}}",
            ids::AUDIT_LOG_GROUP
        )),
        sub(&format!(
            "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{}}}:*",
            ids::AUDIT_LOG_GROUP
        ))
    ])
}

/// What no role that touches the audit trail may do to it, even if another policy allowed it:
/// delete it or its streams, shorten its retention (the account-wide retention policy too),
/// lift its deletion protection, change its key, or mask or transform what readers see.
pub(crate) fn protect_the_audit_trail() -> Vec<Value> {
    let mut group = statement(
        "ProtectTheAuditTrail",
        &[
            "logs:DeleteLogGroup",
            "logs:DeleteLogStream",
            "logs:PutRetentionPolicy",
            "logs:DeleteRetentionPolicy",
            "logs:PutLogGroupDeletionProtection",
            "logs:AssociateKmsKey",
            "logs:DisassociateKmsKey",
            "logs:PutDataProtectionPolicy",
            "logs:DeleteDataProtectionPolicy",
            "logs:PutTransformer",
        ],
        audit_group_arns(),
    );
    group["Effect"] = json!("Deny");
    // No resource type: only `*` names it.
    let mut account = statement(
        "NoAccountWideLogRetention",
        &["logs:PutAccountPolicy", "logs:DeleteAccountPolicy"],
        json!("*"),
    );
    account["Effect"] = json!("Deny");
    vec![group, account]
}

fn extra_statements(id: FunctionId, inputs: &Inputs) -> Vec<Value> {
    let mut statements = own_statements(id, inputs);
    if matches!(id, FunctionId::ToolTarget | FunctionId::RequestProxy) {
        statements.extend(protect_the_audit_trail());
    }
    statements
}

fn own_statements(id: FunctionId, inputs: &Inputs) -> Vec<Value> {
    match id {
        FunctionId::TokenVending | FunctionId::MemoryVending => vending(id)
            .map(|v| {
                // Only from inside this function: `lambda:SourceFunctionArn` is on every request
                // signed with the credentials Lambda gives the function, and on no other. AWS
                // documents the key for identity-based policies only (a trust policy is a
                // resource-based one, where it is never present): the pin lives here.
                let mut pinned = statement(
                    "AssumeItsTenantRoleWithSessionTags",
                    &["sts:AssumeRole", "sts:TagSession"],
                    json!([tenant_role_arn(v)]),
                );
                pinned["Condition"] =
                    json!({ "ArnEquals": { "lambda:SourceFunctionArn": id.arn_by_name() } });
                vec![pinned]
            })
            .unwrap_or_default(),
        FunctionId::ToolTarget => vec![
            // Each patient-data call's audit event, in the clinic's stream of the day (append
            // only: CloudWatch Logs has no call that changes or deletes a recorded event).
            statement(
                "WriteTheAuditTrail",
                &["logs:CreateLogStream", "logs:PutLogEvents"],
                json!([audit_streams()]),
            ),
            // Web search queries pass it before they leave (once a provider is configured).
            statement(
                "ApplyTheWebQueryGuardrail",
                &["bedrock:ApplyGuardrail"],
                json!([get_att(WEB_QUERY_GUARDRAIL, "GuardrailArn")]),
            ),
            statement(
                "VendTenantCredentials",
                &["lambda:InvokeFunction"],
                json!([FunctionId::TokenVending.arn()]),
            ),
            statement(
                "ReadThePageTokenKey",
                &["ssm:GetParameter"],
                json!([ssm_parameter_arn("${PageTokenKeyParameter}")]),
            ),
            // A suspended clinic's tokens open nothing here either (with its own role: the
            // tenant's vended credentials cannot read the registry).
            statement(
                "ReadTheTenantRegistry",
                &["dynamodb:GetItem"],
                json!([get_att(ids::REGISTRY_TABLE, "Arn")]),
            ),
            // The only role that may search documents: no IAM key can pin Retrieve's filter,
            // so this function adds the verified clinic's filter itself, behind Cedar.
            statement(
                "RetrieveFromTheTiersKnowledgeBases",
                &["bedrock:Retrieve"],
                Value::Array(
                    inputs
                        .tiers
                        .iter()
                        .map(|(tier, _)| {
                            get_att(
                                &TierIds::of(tier.as_str()).knowledge_base,
                                "KnowledgeBaseArn",
                            )
                        })
                        .collect(),
                ),
            ),
        ],
        FunctionId::RequestProxy => vec![
            // The runtimes are on IAM inbound auth and this is the only role granted their
            // invocation (the runtime and its endpoints: IAM requires both resource types).
            statement(
                "InvokeTheTierRuntimes",
                &["bedrock-agentcore:InvokeAgentRuntime"],
                Value::Array(
                    inputs
                        .tiers
                        .iter()
                        .flat_map(|(tier, _)| {
                            let runtime = format!("{}AgentRuntime", pascal(tier.as_str()));
                            [
                                get_att(&runtime, "AgentRuntimeArn"),
                                sub(&format!(
                                    "${{{runtime}.AgentRuntimeArn}}/runtime-endpoint/*"
                                )),
                            ]
                        })
                        .collect(),
                ),
            ),
            statement(
                "ReadTheSessionKey",
                &["ssm:GetParameter"],
                json!([ssm_parameter_arn("${SessionKeyParameter}")]),
            ),
            // Counts each request and reads the caller's clinic's days (the clinic from the
            // authorizer context only).
            // GET /audit: the caller's clinic's streams (the clinic from the authorizer context;
            // IAM cannot narrow FilterLogEvents below the log group).
            statement(
                "ReadTheAuditTrail",
                &["logs:FilterLogEvents"],
                audit_group_arns(),
            ),
            statement(
                "CountAndShowUsage",
                &["dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"],
                json!([get_att(ids::USAGE_TABLE, "Arn")]),
            ),
            // GET /usage: the caller's clinic's own token budget, when the provider set one.
            statement(
                "ReadTheTenantRegistry",
                &["dynamodb:GetItem"],
                json!([get_att(ids::REGISTRY_TABLE, "Arn")]),
            ),
        ],
        FunctionId::PreToken => vec![statement(
            "ReadTheTenantRegistry",
            &["dynamodb:GetItem"],
            json!([get_att(ids::REGISTRY_TABLE, "Arn")]),
        )],
        FunctionId::TenantAuthorizer => vec![
            statement(
                "ReadTheTenantRegistry",
                &["dynamodb:GetItem"],
                json!([get_att(ids::REGISTRY_TABLE, "Arn")]),
            ),
            // Only keys tagged as this application's (tenant-admin tags every tenant key; the
            // function also requires the key's ClinicId and Tier tags to be the tenant's).
            {
                let mut read_keys = statement(
                    "ReadTenantApiKeys",
                    &["apigateway:GET"],
                    json!([sub(
                        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys/*"
                    )]),
                );
                read_keys["Condition"] = json!({
                    "StringEquals": {
                        (format!("aws:ResourceTag/{}", tenant_context::API_KEY_TAG_APPLICATION.0)):
                            tenant_context::API_KEY_TAG_APPLICATION.1
                    }
                });
                read_keys
            },
        ],
    }
}

fn verifier_env() -> Map<String, Value> {
    let mut env = Map::new();
    env.insert(tenant_context::ENV_ISSUER.into(), issuer());
    env.insert(
        tenant_context::ENV_AUDIENCE.into(),
        reference(ids::USER_POOL_CLIENT),
    );
    env.insert(tenant_context::ENV_JWKS_URL.into(), jwks_url());
    env
}

/// The variables each function's `Config::from_lookup` reads.
fn environment(id: FunctionId, inputs: &Inputs) -> Result<Map<String, Value>, Error> {
    // The three functions that verify the caller's ID token themselves.
    let mut env = match id {
        FunctionId::TokenVending
        | FunctionId::MemoryVending
        | FunctionId::ToolTarget
        | FunctionId::TenantAuthorizer => verifier_env(),
        FunctionId::RequestProxy | FunctionId::PreToken => Map::new(),
    };
    let mut set = |k: &str, v: Value| {
        env.insert(k.to_owned(), v);
    };
    match id {
        FunctionId::TokenVending | FunctionId::MemoryVending => {
            let v = vending(id).ok_or_else(|| Error::Tier {
                tier: "*".into(),
                reason: format!("{} has no entry in VENDING", id.stem()),
            })?;
            set("TENANTRY_TVM_ROLE_ARN", tenant_role_arn(v));
            set(token_vending::ENV_ALLOWED_SCOPES, json!(v.scopes));
            set("TENANTRY_CREDENTIALS_DURATION_SECS", json!("900"));
        }
        FunctionId::ToolTarget => {
            set("TENANTRY_CREDENTIALS_SOURCE", json!("vending-function"));
            set("TENANTRY_TVM_FUNCTION", FunctionId::TokenVending.arn());
            set("TENANTRY_PATIENT_TABLE", reference(ids::PATIENT_TABLE));
            set(
                audit_trail::ENV_AUDIT_LOG_GROUP,
                reference(ids::AUDIT_LOG_GROUP),
            );
            set("TENANTRY_CLINIC_TABLE", reference(ids::CLINIC_TABLE));
            set(
                tenant_registry::ENV_REGISTRY_TABLE,
                reference(ids::REGISTRY_TABLE),
            );
            set(tenant_registry::ENV_REGISTRY_CACHE_SECS, json!("60"));
            set(
                "TENANTRY_PAGE_TOKEN_KEY_PARAMETER",
                reference("PageTokenKeyParameter"),
            );
            set(
                tool_target::web_search::ENV_WEB_QUERY_GUARDRAIL_ID,
                get_att(WEB_QUERY_GUARDRAIL, "GuardrailId"),
            );
            set(
                tool_target::web_search::ENV_WEB_QUERY_GUARDRAIL_VERSION,
                get_att(WEB_QUERY_GUARDRAIL_VERSION, "Version"),
            );
            for (tier, _) in inputs.tiers.iter() {
                set(
                    &format!(
                        "{}{}",
                        tool_target_env::ENV_KNOWLEDGE_BASE_PREFIX,
                        tier.as_str().to_ascii_uppercase()
                    ),
                    get_att(
                        &TierIds::of(tier.as_str()).knowledge_base,
                        "KnowledgeBaseId",
                    ),
                );
            }
        }
        FunctionId::PreToken => {
            set(
                pre_token::ENV_REGISTRY_TABLE,
                reference(ids::REGISTRY_TABLE),
            );
        }
        FunctionId::TenantAuthorizer => {
            set("TENANTRY_REGISTRY_TABLE", reference(ids::REGISTRY_TABLE));
            set("TENANTRY_REGISTRY_CACHE_SECS", json!("60"));
        }
        FunctionId::RequestProxy => {
            // The limit the WAF's body-size rule is derived from (api.rs): stated, not defaulted.
            set(
                request_proxy::config::ENV_MAX_PROMPT_BYTES,
                json!(request_proxy::config::DEFAULT_MAX_PROMPT_BYTES.to_string()),
            );
            for (tier, _) in inputs.tiers.iter() {
                set(
                    &format!(
                        "TENANTRY_RUNTIME_ARN_{}",
                        tier.as_str().to_ascii_uppercase()
                    ),
                    get_att(
                        &format!("{}AgentRuntime", pascal(tier.as_str())),
                        "AgentRuntimeArn",
                    ),
                );
            }
            set(
                "TENANTRY_RUNTIME_ENDPOINT",
                sub("https://bedrock-agentcore.${AWS::Region}.amazonaws.com"),
            );
            // A few seconds under the function's own timeout, so the proxy answers first.
            set(
                request_proxy::config::ENV_TIMEOUT_SECS,
                json!((STREAM_TIMEOUT_SECS - 5).to_string()),
            );
            set(request_proxy::config::ENV_RESPONSE_MODE, json!("stream"));
            set(usage_meter::ENV_USAGE_TABLE, reference(ids::USAGE_TABLE));
            set(
                tenant_registry::ENV_REGISTRY_TABLE,
                reference(ids::REGISTRY_TABLE),
            );
            set(
                audit_trail::ENV_AUDIT_LOG_GROUP,
                reference(ids::AUDIT_LOG_GROUP),
            );
            set(
                request_proxy::config::SESSION_KEY_VARS.parameter,
                reference("SessionKeyParameter"),
            );
        }
    }
    Ok(env)
}

/// A role a vending function assumes per tenant (with session tags): infra/policies' trust,
/// naming that function only, and the permissions of its scopes only.
fn tenant_role(t: &mut Template, inputs: &Inputs, v: &Vending) -> Result<(), Error> {
    let values: BTreeMap<&'static str, Value> = BTreeMap::from([
        ("VendingRoleArn", get_att(&v.function.role(), "Arn")),
        (
            "PatientMetadataTableArn",
            get_att(ids::PATIENT_TABLE, "Arn"),
        ),
        ("ClinicConfigTableArn", get_att(ids::CLINIC_TABLE, "Arn")),
        ("Partition", reference("AWS::Partition")),
        ("Region", reference("AWS::Region")),
        ("AccountId", reference("AWS::AccountId")),
        ("NamePrefix", reference("NamePrefix")),
    ]);
    let permissions = match v.tenant_role {
        "TenantDataRole" => &inputs.tvm_data_permissions,
        "TenantMemoryRole" => &inputs.tvm_memory_permissions,
        other => {
            return Err(Error::Tier {
                tier: "*".into(),
                reason: format!("no permissions document for the tenant role {other}"),
            });
        }
    };
    t.resource(
        v.tenant_role,
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": sub(&format!("${{NamePrefix}}-{}", v.tenant_role_suffix)),
                "Description": format!("Assumed by the {} function for {} with the tenant's session tags ({} scope only); every grant is scoped by them.", v.function.stem(), v.callers, v.scopes),
                "MaxSessionDuration": 3600,
                "AssumeRolePolicyDocument": iam::render(&inputs.tvm_trust, &values)?,
                "Policies": [{
                    "PolicyName": "tenant-scoped-access",
                    "PolicyDocument": iam::render(permissions, &values)?
                }],
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )
}
