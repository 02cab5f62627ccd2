//! The four Lambda functions, each with its own least-privilege role and log group, and the
//! tenant-scoped role the token vending machine hands out.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::cfn::{checkov_skips, get_att, pascal, reference, ssm_parameter_arn, sub, tag_list};
use crate::iam::{document, lambda_trust, statement};
use crate::shared::{APP_TAGS, issuer, jwks_url, log_group};
use crate::tier::TierIds;
use crate::{Error, Inputs, Template, iam};
use tool_target::config as tool_target_env;

/// One deployed function.
pub struct Function {
    /// Logical id stem: `<logical>Function`, `<logical>Role`, `<logical>CodeKey`, ...
    pub logical: &'static str,
    /// The workspace crate (and cargo-lambda binary) it is built from.
    pub crate_name: &'static str,
    pub memory_mb: u32,
    pub timeout_secs: u32,
}

pub const FUNCTIONS: [Function; 5] = [
    Function {
        logical: "TokenVending",
        crate_name: "token-vending",
        memory_mb: 256,
        timeout_secs: 10,
    },
    Function {
        logical: "ToolTarget",
        crate_name: "tool-target",
        memory_mb: 256,
        timeout_secs: 30,
    },
    Function {
        logical: "TenantAuthorizer",
        crate_name: "tenant-authorizer",
        memory_mb: 256,
        timeout_secs: 10,
    },
    Function {
        logical: "RequestProxy",
        crate_name: "request-proxy",
        memory_mb: 256,
        // The API streams its answer (response transfer mode STREAM), which lifts API
        // Gateway's 29 s integration limit: the agent's whole turn (120 s by default) fits.
        timeout_secs: STREAM_TIMEOUT_SECS,
    },
    Function {
        logical: "PreToken",
        crate_name: "pre-token",
        memory_mb: 128,
        // Cognito waits 5 s for a trigger.
        timeout_secs: 5,
    },
];

/// How long a streamed answer may take end to end: request-proxy's timeout and API Gateway's
/// integration timeout (streaming integrations may take up to 15 minutes).
pub const STREAM_TIMEOUT_SECS: u32 = 180;

/// The role the token vending machine assumes for a tenant (with session tags).
pub const TENANT_ROLE_SUFFIX: &str = "tenant-access";

pub fn tenant_role_arn() -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/${{NamePrefix}}-{TENANT_ROLE_SUFFIX}"
    ))
}

/// The prefix of the per-tier document buckets: `<prefix><tier>`.
pub fn document_bucket_prefix() -> Value {
    sub("${NamePrefix}-docs-${AWS::AccountId}-${AWS::Region}-")
}

pub fn add(t: &mut Template, inputs: &Inputs) -> Result<(), Error> {
    for f in &FUNCTIONS {
        let log_id = format!("{}LogGroup", f.logical);
        log_group(
            t,
            &log_id,
            sub(&format!("/aws/lambda/${{NamePrefix}}-{}", f.crate_name)),
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
        statements.extend(extra_statements(f.logical, inputs));
        let role_id = format!("{}Role", f.logical);
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
        let mut env = environment(f.logical, inputs)?;
        env.insert("RUST_LOG".into(), json!("info"));
        t.resource(
            &format!("{}Function", f.logical),
            json!({
                "Type": "AWS::Lambda::Function",
                "Metadata": checkov_skips(&[
                    ("CKV_AWS_116", "Invoked synchronously only (API Gateway, AgentCore Gateway, tool target); a dead-letter queue applies to asynchronous invocations."),
                    ("CKV_AWS_117", "Calls only public AWS endpoints (STS, DynamoDB, Cognito JWKS, AgentCore); no VPC resources to reach. Put it in a VPC with endpoints if your policy requires it."),
                    ("CKV_AWS_115", "Concurrency is bounded per tenant by the API Gateway usage plans; reserving account concurrency fails on accounts with low limits."),
                    ("CKV_AWS_173", "The environment holds no secrets (names, ARNs, URLs); the secrets (the page-token key, the session key) are read from SSM SecureStrings at start-up.")
                ]),
                "Properties": {
                    "FunctionName": sub(&format!("${{NamePrefix}}-{}", f.crate_name)),
                    "Description": format!("Tenantry {}", f.crate_name),
                    "Runtime": "provided.al2023",
                    "Architectures": ["arm64"],
                    "Handler": "bootstrap",
                    "Code": {
                        "S3Bucket": reference("ArtifactBucket"),
                        "S3Key": reference(&format!("{}CodeKey", f.logical))
                    },
                    "Role": get_att(&role_id, "Arn"),
                    "MemorySize": f.memory_mb,
                    "Timeout": f.timeout_secs,
                    "Environment": { "Variables": env },
                    "TracingConfig": { "Mode": "Active" },
                    "LoggingConfig": { "LogGroup": reference(&log_id) },
                    "Tags": tag_list(&APP_TAGS)
                }
            }),
        )?;
        t.output(
            &format!("{}FunctionName", f.logical),
            &format!("{} function", f.crate_name),
            reference(&format!("{}Function", f.logical)),
        )?;
    }
    tenant_role(t, inputs)
}

/// Grants beyond logs and tracing, per function.
fn extra_statements(logical: &str, inputs: &Inputs) -> Vec<Value> {
    match logical {
        "TokenVending" => vec![statement(
            "AssumeTheTenantRoleWithSessionTags",
            &["sts:AssumeRole", "sts:TagSession"],
            json!([tenant_role_arn()]),
        )],
        "ToolTarget" => vec![
            statement(
                "VendTenantCredentials",
                &["lambda:InvokeFunction"],
                json!([get_att("TokenVendingFunction", "Arn")]),
            ),
            statement(
                "ReadThePageTokenKey",
                &["ssm:GetParameter"],
                json!([ssm_parameter_arn("${PageTokenKeyParameter}")]),
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
        "RequestProxy" => vec![statement(
            "ReadTheSessionKey",
            &["ssm:GetParameter"],
            json!([ssm_parameter_arn("${SessionKeyParameter}")]),
        )],
        "PreToken" => vec![statement(
            "ReadTheTenantRegistry",
            &["dynamodb:GetItem"],
            json!([get_att("TenantRegistryTable", "Arn")]),
        )],
        "TenantAuthorizer" => vec![
            statement(
                "ReadTheTenantRegistry",
                &["dynamodb:GetItem"],
                json!([get_att("TenantRegistryTable", "Arn")]),
            ),
            statement(
                "ReadTenantApiKeys",
                &["apigateway:GET"],
                json!([sub(
                    "arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys/*"
                )]),
            ),
        ],
        _ => Vec::new(),
    }
}

fn verifier_env() -> Map<String, Value> {
    let mut env = Map::new();
    env.insert(tenant_context::ENV_ISSUER.into(), issuer());
    env.insert(
        tenant_context::ENV_AUDIENCE.into(),
        reference("UserPoolClient"),
    );
    env.insert(tenant_context::ENV_JWKS_URL.into(), jwks_url());
    env
}

/// The variables each function's `Config::from_lookup` reads.
fn environment(logical: &str, inputs: &Inputs) -> Result<Map<String, Value>, Error> {
    // The three functions that verify the caller's ID token themselves.
    let mut env = match logical {
        "TokenVending" | "ToolTarget" | "TenantAuthorizer" => verifier_env(),
        _ => Map::new(),
    };
    let mut set = |k: &str, v: Value| {
        env.insert(k.to_owned(), v);
    };
    match logical {
        "TokenVending" => {
            set("TENANTRY_TVM_ROLE_ARN", tenant_role_arn());
            set("TENANTRY_CREDENTIALS_DURATION_SECS", json!("900"));
        }
        "ToolTarget" => {
            set("TENANTRY_CREDENTIALS_SOURCE", json!("vending-function"));
            set(
                "TENANTRY_TVM_FUNCTION",
                get_att("TokenVendingFunction", "Arn"),
            );
            set("TENANTRY_PATIENT_TABLE", reference("PatientMetadataTable"));
            set("TENANTRY_CLINIC_TABLE", reference("ClinicConfigTable"));
            set(
                "TENANTRY_PAGE_TOKEN_KEY_PARAMETER",
                reference("PageTokenKeyParameter"),
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
        "PreToken" => {
            set(
                pre_token::ENV_REGISTRY_TABLE,
                reference("TenantRegistryTable"),
            );
        }
        "TenantAuthorizer" => {
            set("TENANTRY_REGISTRY_TABLE", reference("TenantRegistryTable"));
            set("TENANTRY_REGISTRY_CACHE_SECS", json!("60"));
        }
        "RequestProxy" => {
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
            set(
                request_proxy::config::SESSION_KEY_VARS.parameter,
                reference("SessionKeyParameter"),
            );
        }
        other => {
            return Err(Error::Tier {
                tier: "*".into(),
                reason: format!("no environment defined for function {other}"),
            });
        }
    }
    Ok(env)
}

/// The role the token vending machine assumes per tenant: the documents of infra/policies.
fn tenant_role(t: &mut Template, inputs: &Inputs) -> Result<(), Error> {
    let values: BTreeMap<&'static str, Value> = BTreeMap::from([
        ("TvmFunctionRoleArn", get_att("TokenVendingRole", "Arn")),
        (
            "PatientMetadataTableArn",
            get_att("PatientMetadataTable", "Arn"),
        ),
        ("ClinicConfigTableArn", get_att("ClinicConfigTable", "Arn")),
        ("Partition", reference("AWS::Partition")),
        ("Region", reference("AWS::Region")),
        ("AccountId", reference("AWS::AccountId")),
        ("DocumentBucketPrefix", document_bucket_prefix()),
        ("NamePrefix", reference("NamePrefix")),
        ("TvmFunctionArn", get_att("TokenVendingFunction", "Arn")),
    ]);
    t.resource(
        "TenantAccessRole",
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": sub(&format!("${{NamePrefix}}-{TENANT_ROLE_SUFFIX}")),
                "Description": "Assumed by the token vending machine with the tenant's session tags; every grant is scoped by them.",
                "MaxSessionDuration": 3600,
                "AssumeRolePolicyDocument": iam::render(&inputs.tvm_trust, &values)?,
                "Policies": [{
                    "PolicyName": "tenant-scoped-access",
                    "PolicyDocument": iam::render(&inputs.tvm_permissions, &values)?
                }],
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )
}
