//! Everything one tier gets: its document bucket, AgentCore Runtime, Memory, Gateway and
//! Gateway target, and knowledge base. Every value comes from the tier's entry in the tier file.

use serde_json::{Value, json};
use tenant_context::{MemoryStrategyKind, TierConfig};

use agent_runtime::config as agent;

use crate::cfn::{
    KEPT_ON_DELETION, KEPT_ON_REPLACEMENT, get_att, pascal, reference, ssm_parameter_arn, sub,
    tag_list, tag_map,
};
use crate::function_ids::{FunctionId, document_bucket_prefix};
use crate::iam::{document, service_trust, statement};
use crate::ids;
use crate::ids::TierIds;
use crate::shared::{
    APP_TAGS, bucket_policy, bucket_properties, data_key_encryption, issuer, jwks_url,
};
use crate::{Error, Inputs, PROPAGATED_HEADERS, Template};

/// What every part of one tier is built from.
struct Parts<'a> {
    name: &'a str,
    /// The tier's name inside logical ids (`basic` -> `Basic`).
    pascal: String,
    config: &'a TierConfig,
    ids: TierIds,
    tags: [(&'static str, &'a str); 2],
}

type Unpacked<'p, 'a> = (
    &'a str,
    &'p str,
    &'a TierConfig,
    &'p TierIds,
    &'p [(&'static str, &'a str); 2],
);

impl<'a> Parts<'a> {
    /// The tier's name, its PascalCase form, its configuration, logical ids and tags.
    fn unpack(&self) -> Unpacked<'_, 'a> {
        (self.name, &self.pascal, self.config, &self.ids, &self.tags)
    }
}

pub fn add(
    t: &mut Template,
    inputs: &Inputs,
    tier: &str,
    config: &TierConfig,
) -> Result<(), Error> {
    let parts = Parts {
        name: tier,
        pascal: pascal(tier),
        config,
        ids: TierIds::of(tier),
        tags: [("Application", "tenantry"), ("Tier", tier)],
    };
    documents_bucket(t, &parts)?;
    memory(t, &parts)?;
    knowledge_base(t, &parts)?;
    gateway(t, inputs, &parts)?;
    if config.guardrail.is_some() {
        guardrail(t, &parts)?;
    }
    runtime(t, &parts)?;
    let Parts { pascal: p, ids, .. } = &parts;
    t.output(
        &format!("{p}RuntimeArn"),
        &format!("AgentCore Runtime of the {tier} tier"),
        get_att(&ids.runtime, "AgentRuntimeArn"),
    )?;
    // AgentCore creates the runtime's log group itself, named after the id it assigns, so the
    // template cannot declare it (a declared one would collide); scripts/deploy.sh puts it
    // under the data key and the stack's retention right after the stack.
    t.output(
        &format!("{p}RuntimeLogGroup"),
        &format!("Log group of the {tier} tier's runtime (DEFAULT endpoint)"),
        sub(&format!(
            "{}${{{}.AgentRuntimeId}}-DEFAULT",
            RUNTIME_LOG_GROUP_PREFIX, ids.runtime
        )),
    )?;
    t.output(
        &format!("{p}GatewayUrl"),
        &format!("AgentCore Gateway (MCP) of the {tier} tier"),
        get_att(&ids.gateway, "GatewayUrl"),
    )?;
    t.output(
        &format!("{p}MemoryId"),
        &format!("AgentCore Memory of the {tier} tier"),
        get_att(&ids.memory, "MemoryId"),
    )?;
    t.output(
        &format!("{p}KnowledgeBaseId"),
        &format!("Knowledge base of the {tier} tier"),
        reference(&ids.knowledge_base),
    )?;
    t.output(
        &format!("{p}DataSourceId"),
        &format!("Data source of the {tier} tier's knowledge base (for ingestion jobs)"),
        get_att(&format!("{p}KnowledgeBaseDataSource"), "DataSourceId"),
    )?;
    t.output(
        &format!("{p}DocumentsBucket"),
        &format!("Documents of the {tier} tier, under {tier}-tier/<clinic_id>/<doc-type>/"),
        reference(&ids.bucket),
    )
}

fn documents_bucket(t: &mut Template, parts: &Parts) -> Result<(), Error> {
    let (tier, _, _, ids, tags) = parts.unpack();
    t.resource(
        &ids.bucket,
        json!({
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": KEPT_ON_DELETION,
            "UpdateReplacePolicy": KEPT_ON_REPLACEMENT,
            "Properties": bucket_properties(data_key_encryption(), json!({
                "BucketName": { "Fn::Join": ["", [document_bucket_prefix(), tier]] },
                "LoggingConfiguration": {
                    "DestinationBucketName": reference(ids::ACCESS_LOGS_BUCKET),
                    "LogFilePrefix": format!("documents-{tier}/")
                },
                "LifecycleConfiguration": { "Rules": [{
                    "Id": "expire-replaced-versions",
                    "Status": "Enabled",
                    "NoncurrentVersionExpiration": { "NoncurrentDays": 90 },
                    "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 7 }
                }]},
                "Tags": tag_list(tags)
            }))
        }),
    )?;
    bucket_policy(t, &ids.bucket, Vec::new())
}

fn memory(t: &mut Template, parts: &Parts) -> Result<(), Error> {
    let (tier, _, config, ids, tags) = parts.unpack();
    let strategies: Vec<Value> = config
        .memory
        .strategies
        .iter()
        .map(|s| {
            let kind = match s.kind {
                MemoryStrategyKind::Semantic => "SemanticMemoryStrategy",
                MemoryStrategyKind::Summary => "SummaryMemoryStrategy",
                MemoryStrategyKind::UserPreference => "UserPreferenceMemoryStrategy",
            };
            json!({ kind: {
                "Name": s.name,
                "Namespaces": [s.namespace],
                // Extracted records are clinical facts: they expire like the events they
                // came from, on the tier's own schedule (AWS keeps them for ever otherwise).
                "RecordExpirySpecification": { "RecordExpiryDurationDays": config.memory.record_expiry_days }
            } })
        })
        .collect();
    t.resource(
        &ids.memory,
        json!({
            "Type": "AWS::BedrockAgentCore::Memory",
            "Properties": {
                "Name": sub(&format!("${{NamePrefix}}_{tier}_memory")),
                "Description": format!("Conversation memory of the {tier} tier; actors are <tier>/<clinic>/<user>"),
                "EventExpiryDuration": config.memory.event_expiry_days,
                // Conversations and extracted facts carry patient data: under the stack's data
                // key like every other store of it. Create-only: set before the first deploy.
                "EncryptionKeyArn": get_att(ids::DATA_KEY, "Arn"),
                "MemoryStrategies": strategies,
                "Tags": tag_map(tags)
            }
        }),
    )
}

fn knowledge_base(t: &mut Template, parts: &Parts) -> Result<(), Error> {
    let (tier, p, config, ids, tags) = parts.unpack();
    let kb = &config.knowledge_base;
    let vectors = format!("{p}VectorBucket");
    let index = format!("{p}VectorIndex");
    let role = format!("{p}KnowledgeBaseRole");
    let model_arn = sub(&format!(
        "arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}::foundation-model/{}",
        kb.embedding_model_id
    ));
    t.resource(
        &vectors,
        json!({
            "Type": "AWS::S3Vectors::VectorBucket",
            "Properties": {
                "VectorBucketName": sub(&ids::vector_bucket_name(tier)),
                // The chunks' text rides in the vectors' metadata: the data key, not SSE-S3.
                // Create-only, and the indexes inherit it.
                "EncryptionConfiguration": { "SseType": "aws:kms", "KmsKeyArn": get_att(ids::DATA_KEY, "Arn") },
                "Tags": tag_list(tags)
            }
        }),
    )?;
    t.resource(
        &index,
        json!({
            "Type": "AWS::S3Vectors::Index",
            "Properties": {
                "VectorBucketArn": get_att(&vectors, "VectorBucketArn"),
                "IndexName": "documents",
                "DataType": "float32",
                "Dimension": kb.embedding_dimensions,
                "DistanceMetric": "cosine",
                // Only small keys (clinic_id, tier, document_type) stay filterable; the chunk
                // text would exceed the filterable-metadata size limit.
                "MetadataConfiguration": { "NonFilterableMetadataKeys": ["AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"] }
            }
        }),
    )?;
    t.resource(
        &role,
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": service_trust("bedrock.amazonaws.com", Some(sub("arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:knowledge-base/*"))),
                "Policies": [{ "PolicyName": "index-tier-documents", "PolicyDocument": document(vec![
                    statement("EmbedWithTheTiersModel", &["bedrock:InvokeModel"], json!([model_arn])),
                    statement("ReadTheTiersDocuments", &["s3:GetObject"], json!([sub(&format!("${{{}.Arn}}/{tier}-tier/*", ids.bucket))])),
                    statement("ListTheTiersDocuments", &["s3:ListBucket"], json!([get_att(&ids.bucket, "Arn")])),
                    statement(
                        "WriteTheTiersVectors",
                        &["s3vectors:PutVectors", "s3vectors:GetVectors", "s3vectors:DeleteVectors", "s3vectors:QueryVectors", "s3vectors:GetIndex"],
                        json!([get_att(&index, "IndexArn")])
                    )
                ])}],
                "Tags": tag_list(tags)
            }
        }),
    )?;
    t.resource(
        &ids.knowledge_base,
        json!({
            "Type": "AWS::Bedrock::KnowledgeBase",
            "Properties": {
                "Name": kb.name,
                "Description": format!("Documents of the {tier} tier; every retrieval filters on clinic_id"),
                "RoleArn": get_att(&role, "Arn"),
                "KnowledgeBaseConfiguration": {
                    "Type": "VECTOR",
                    "VectorKnowledgeBaseConfiguration": {
                        "EmbeddingModelArn": model_arn,
                        "EmbeddingModelConfiguration": { "BedrockEmbeddingModelConfiguration": {
                            "Dimensions": kb.embedding_dimensions,
                            "EmbeddingDataType": "FLOAT32"
                        }}
                    }
                },
                "StorageConfiguration": {
                    "Type": "S3_VECTORS",
                    "S3VectorsConfiguration": { "IndexArn": get_att(&index, "IndexArn") }
                },
                "Tags": tag_map(tags)
            }
        }),
    )?;
    t.resource(
        &format!("{p}KnowledgeBaseDataSource"),
        json!({
            "Type": "AWS::Bedrock::DataSource",
            "Properties": {
                "KnowledgeBaseId": reference(&ids.knowledge_base),
                "Name": "tier-documents",
                "Description": "<tier>-tier/<clinic_id>/<doc-type>/ with .metadata.json sidecars (clinic_id, tier, document_type)",
                "DataSourceConfiguration": {
                    "Type": "S3",
                    "S3Configuration": {
                        "BucketArn": get_att(&ids.bucket, "Arn"),
                        "InclusionPrefixes": [format!("{tier}-tier/")]
                    }
                }
            }
        }),
    )?;
    t.resource(
        &format!("{p}KnowledgeBaseIdParameter"),
        json!({
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": kb.ssm_parameter,
                "Type": "String",
                "Value": reference(&ids.knowledge_base),
                "Description": format!("Knowledge base id of the {tier} tier (read by the agent runtime at start-up)"),
                "Tags": tag_map(tags)
            }
        }),
    )
}

fn gateway(t: &mut Template, inputs: &Inputs, parts: &Parts) -> Result<(), Error> {
    let (tier, p, config, ids, tags) = parts.unpack();
    let role = format!("{p}GatewayRole");
    t.resource(
        &role,
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": service_trust("bedrock-agentcore.amazonaws.com", Some(agentcore_source_arn())),
                "Policies": [{ "PolicyName": "invoke-tools-under-policy", "PolicyDocument": document(vec![
                    statement("InvokeTheToolTarget", &["lambda:InvokeFunction"], json!([FunctionId::ToolTarget.arn()])),
                    statement(
                        "EvaluateCedarPolicies",
                        &["bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions", "bedrock-agentcore:GetPolicyEngine"],
                        json!([
                            get_att("PolicyEngine", "PolicyEngineArn"),
                            sub(&format!("arn:${{AWS::Partition}}:bedrock-agentcore:${{AWS::Region}}:${{AWS::AccountId}}:gateway/${{NamePrefix}}-{tier}-*"))
                        ])
                    )
                ])}],
                "Tags": tag_list(tags)
            }
        }),
    )?;
    t.resource(
        &ids.gateway,
        json!({
            "Type": "AWS::BedrockAgentCore::Gateway",
            "Properties": {
                "Name": sub(&format!("${{NamePrefix}}-{tier}")),
                "Description": format!("MCP tools of the {tier} tier, under the Cedar policy engine"),
                "ProtocolType": "MCP",
                // The agent pins one MCP version; a Gateway accepts only the versions it lists.
                "ProtocolConfiguration": { "Mcp": { "SupportedVersions": [agent_runtime::tools::MCP_PROTOCOL_VERSION.as_str()] } },
                // IAM inbound auth: only the tier's runtime role may InvokeGateway it (its role
                // policy; no other principal is granted), so no credential a user holds opens
                // the Gateway. The user's ID token rides along for the tool target, which
                // verifies it (docs/SECURITY.md, "Who can call what").
                "AuthorizerType": "AWS_IAM",
                "PolicyEngineConfiguration": { "Arn": get_att("PolicyEngine", "PolicyEngineArn"), "Mode": "ENFORCE" },
                "RoleArn": get_att(&role, "Arn"),
                "Tags": tag_map(tags)
            }
        }),
    )?;
    let tools: Vec<Value> = inputs
        .tool_schema
        .iter()
        .filter(|tool| {
            tool.get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| config.tools.iter().any(|t| t == name))
        })
        .map(crate::tool_schema::tool_definition)
        .collect::<Result<_, _>>()?;
    if tools.is_empty() {
        return Err(Error::Tier {
            tier: tier.to_string(),
            reason: "none of its tools is served by the tool target".into(),
        });
    }
    t.resource(
        &ids.target,
        json!({
            "Type": "AWS::BedrockAgentCore::GatewayTarget",
            "Properties": {
                "GatewayIdentifier": get_att(&ids.gateway, "GatewayIdentifier"),
                "Name": config.gateway_target,
                "Description": format!("tool-target Lambda: the {tier} tier's tools"),
                "TargetConfiguration": { "Mcp": { "Lambda": {
                    "LambdaArn": FunctionId::ToolTarget.arn(),
                    "ToolSchema": { "InlinePayload": tools }
                }}},
                "CredentialProviderConfigurations": [{ "CredentialProviderType": "GATEWAY_IAM_ROLE" }],
                // The caller's ID token and the derived tenant headers; the target re-verifies
                // the token and cross-checks the rest.
                "MetadataConfiguration": { "AllowedRequestHeaders": PROPAGATED_HEADERS }
            }
        }),
    )
}

/// The tier's Bedrock guardrail and a pinned version of it. Content filters and the masking
/// of identifiers that never belong in an answer; clinical words pass (a guardrail that
/// blocked "injury" or anonymised names would make a clinical assistant useless).
fn guardrail(t: &mut Template, parts: &Parts) -> Result<(), Error> {
    let (tier, _, _, ids, tags) = parts.unpack();
    let filter = |kind: &str, input: &str, output: &str| json!({ "Type": kind, "InputStrength": input, "OutputStrength": output });
    t.resource(
        &ids.guardrail,
        json!({
            "Type": "AWS::Bedrock::Guardrail",
            "Properties": {
                "Name": sub(&format!("${{NamePrefix}}-{tier}-guardrail")),
                "Description": format!("Input and output checks of the {tier} tier's agent"),
                "BlockedInputMessaging": "This request is outside what the clinic's assistant may help with.",
                "BlockedOutputsMessaging": "The assistant's answer was withheld by the clinic's content policy.",
                "ContentPolicyConfig": { "FiltersConfig": [
                    filter("HATE", "HIGH", "HIGH"),
                    filter("INSULTS", "HIGH", "HIGH"),
                    filter("SEXUAL", "HIGH", "HIGH"),
                    filter("VIOLENCE", "MEDIUM", "MEDIUM"),
                    filter("MISCONDUCT", "HIGH", "HIGH"),
                    filter("PROMPT_ATTACK", "HIGH", "NONE")
                ]},
                "SensitiveInformationPolicyConfig": { "PiiEntitiesConfig": [
                    { "Type": "US_SOCIAL_SECURITY_NUMBER", "Action": "ANONYMIZE" },
                    { "Type": "CREDIT_DEBIT_CARD_NUMBER", "Action": "ANONYMIZE" },
                    { "Type": "PASSWORD", "Action": "ANONYMIZE" },
                    { "Type": "AWS_SECRET_KEY", "Action": "ANONYMIZE" }
                ]},
                // No customer key here: the data key's policy does not (yet) grant Bedrock
                // Guardrails its use, and the guardrail stores configuration, not patient data.
                "Tags": tag_list(tags)
            }
        }),
    )?;
    t.resource(
        &ids.guardrail_version,
        json!({
            "Type": "AWS::Bedrock::GuardrailVersion",
            "Properties": {
                "GuardrailIdentifier": get_att(&ids.guardrail, "GuardrailId"),
                "Description": "Pinned by the stack: the runtimes use this version"
            }
        }),
    )
}

/// Where AgentCore writes a runtime's logs: `<prefix><runtime id>-<endpoint name>`.
const RUNTIME_LOG_GROUP_PREFIX: &str = "/aws/bedrock-agentcore/runtimes/";

/// The tier's runtime name (an `Fn::Sub` string): letters, digits and `_` only.
fn runtime_name(tier: &str) -> String {
    format!("${{NamePrefix}}_{tier}")
}

fn runtime(t: &mut Template, parts: &Parts) -> Result<(), Error> {
    let (tier, p, config, ids, tags) = parts.unpack();
    let role = format!("{p}RuntimeRole");
    let project_param = ssm_parameter_arn(&config.bedrock_project.ssm_parameter);
    let mut role_resource = json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": service_trust("bedrock-agentcore.amazonaws.com", Some(agentcore_source_arn())),
            "Policies": [{ "PolicyName": "run-the-tier-agent", "PolicyDocument": document(vec![
                // Only the agent's repository (scripts/deploy.sh creates and fills it).
                statement("PullTheAgentImage", &["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    json!([sub("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${NamePrefix}-agent-runtime")])),
                // Registry authentication has no resource-level permission.
                statement("EcrLogin", &["ecr:GetAuthorizationToken"], json!(["*"])),
                // Its own runtime's log groups only: AgentCore names them
                // `<runtime id>-<endpoint>` and a runtime id is `<runtime name>-<10 characters>`;
                // runtime names hold no `-`, so `<name>-*` is this runtime and no other.
                statement("OwnRuntimeLogs", &["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    json!([sub(&format!(
                        "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{RUNTIME_LOG_GROUP_PREFIX}{}-*",
                        runtime_name(tier)
                    ))])),
                statement("Tracing", &["xray:PutTraceSegments", "xray:PutTelemetryRecords"], json!(["*"])),
                // The tier's Gateway, and no other: its MCP calls are signed with this role.
                statement("InvokeTheTiersGateway", &["bedrock-agentcore:InvokeGateway"],
                    json!([get_att(&ids.gateway, "GatewayArn")])),
                // The model is reached on Bedrock's OpenAI-compatible (bedrock-mantle) endpoint,
                // inside the account's Bedrock projects (per-tier cost attribution), with
                // short-term keys the agent mints from this role: no model key is stored.
                // Only in the tier's own project (scripts/bedrock-projects.sh tags it
                // Application and Tier): its data retention mode is the one the tier file sets,
                // and a call without it (the account's default project) is refused.
                json!({
                    "Sid": "InferenceInTheTiersProject",
                    "Effect": "Allow",
                    "Action": ["bedrock-mantle:CreateInference"],
                    "Resource": [sub("arn:${AWS::Partition}:bedrock-mantle:${AWS::Region}:${AWS::AccountId}:project/*")],
                    "Condition": { "StringEquals": {
                        "aws:ResourceTag/Application": APP_TAGS[0].1,
                        "aws:ResourceTag/Tier": tier
                    } }
                }),
                // No resource-level permission (AWS's managed policy grants it on "*").
                statement("ShortTermModelKeys", &["bedrock-mantle:CallWithBearerToken"], json!(["*"])),
                // Memory is reached only with tenant-scoped credentials from the TVM.
                statement("VendMemoryCredentials", &["lambda:InvokeFunction"], json!([FunctionId::MemoryVending.arn()])),
                statement("ReadTheTiersParameters", &["ssm:GetParameter"], json!([project_param])),
                statement("ReadTheSessionKey", &["ssm:GetParameter"], json!([ssm_parameter_arn("${SessionKeyParameter}")])),
                // Adds each turn's tokens and cost to the caller's clinic's day (the clinic from
                // the verified token), counts the caller's turns per minute and reserves the
                // clinic's token budget (conditional ADDs); reads back only the budget item of
                // a refusal (GetItem): the clinic's days are read through request-proxy.
                statement("CountTheTurnsUsage", &["dynamodb:UpdateItem", "dynamodb:GetItem"], json!([get_att(ids::USAGE_TABLE, "Arn")])),
                // Whether the caller's clinic is served now (a suspension ends invocations
                // here too, within the registry cache's lifetime).
                statement("ReadTheTenantRegistry", &["dynamodb:GetItem"], json!([get_att(ids::REGISTRY_TABLE, "Arn")])),
                // The clinics' budget alerts (80% and 100%), once per threshold and period.
                statement("PublishBudgetAlerts", &["sns:Publish"], json!([reference(ids::BUDGET_ALERT_TOPIC)])),
                // The audit trail: memory recalls and the Gateway's policy denials (append
                // only: CloudWatch Logs has no call that changes or deletes a recorded event).
                statement("WriteTheAuditTrail", &["logs:CreateLogStream", "logs:PutLogEvents"], json!([crate::functions::audit_streams()])),
                statement("ApplyTheTiersGuardrail", &["bedrock:ApplyGuardrail"], json!([get_att(&ids.guardrail, "GuardrailArn")]))
            ].into_iter().chain(crate::functions::protect_the_audit_trail()).collect())}],
            "Tags": tag_list(tags)
        }
    });
    let mut runtime_resource = json!({
        "Type": "AWS::BedrockAgentCore::Runtime",
        "Properties": {
            "AgentRuntimeName": sub(&runtime_name(tier)),
            "Description": format!("The {tier} tier's agent"),
            "AgentRuntimeArtifact": { "ContainerConfiguration": { "ContainerUri": reference("AgentRuntimeImageUri") } },
            "NetworkConfiguration": { "NetworkMode": "PUBLIC" },
            "ProtocolConfiguration": "HTTP",
            // No AuthorizerConfiguration: IAM (SigV4) inbound auth, and only request-proxy's
            // role is granted InvokeAgentRuntime. The caller's ID token comes in the one
            // allow-listed custom header, and the agent verifies it.
            "RequestHeaderConfiguration": { "RequestHeaderAllowlist": [contracts::headers::RUNTIME_ID_TOKEN] },
            "LifecycleConfiguration": { "IdleRuntimeSessionTimeout": 900, "MaxLifetime": 28800 },
            "RoleArn": get_att(&role, "Arn"),
            "EnvironmentVariables": {
                // The AWS SDK's Region (memory, guardrail, SSM, signing): AgentCore Runtime
                // does not document setting it for a container.
                "AWS_REGION": reference("AWS::Region"),
                "AWS_DEFAULT_REGION": reference("AWS::Region"),
                (agent::ENV_TIER): tier,
                // The same id the binary embeds from the tier file; visible in the console.
                (agent::ENV_MODEL_ID): config.model_id,
                (agent::ENV_MODEL_BASE_URL): sub("https://bedrock-mantle.${AWS::Region}.api.aws/v1"),
                (agent::ENV_MODEL_AUTH): agent::MODEL_AUTH_ROLE,
                // Spans straight to X-Ray's OTLP endpoint, signed with this role (AgentCore runs
                // no collector beside a custom container).
                (telemetry::traces::ENV_TRACES_ENDPOINT): sub("https://xray.${AWS::Region}.amazonaws.com/v1/traces"),
                (agent::BEDROCK_PROJECT_VARS.parameter): config.bedrock_project.ssm_parameter,
                (agent::SESSION_KEY_VARS.parameter): reference("SessionKeyParameter"),
                (agent::ENV_MEMORY_ID): get_att(&ids.memory, "MemoryId"),
                (agent::ENV_GATEWAY_URL): get_att(&ids.gateway, "GatewayUrl"),
                (agent::ENV_GUARDRAIL_ID): get_att(&ids.guardrail, "GuardrailId"),
                (agent::ENV_GUARDRAIL_VERSION): get_att(&ids.guardrail_version, "Version"),
                // Memory-scoped credentials for each user, from the token vending machine.
                (scoped_credentials::ENV_SOURCE): "vending-function",
                (scoped_credentials::ENV_FUNCTION): FunctionId::MemoryVending.arn(),
                (tenant_context::ENV_ISSUER): issuer(),
                (tenant_context::ENV_AUDIENCE): reference(ids::USER_POOL_CLIENT),
                (tenant_context::ENV_JWKS_URL): jwks_url(),
                (usage_meter::ENV_USAGE_TABLE): reference(ids::USAGE_TABLE),
                (tenant_registry::ENV_REGISTRY_TABLE): reference(ids::REGISTRY_TABLE),
                (agent::ENV_BUDGET_ALERT_TOPIC): reference(ids::BUDGET_ALERT_TOPIC),
                (audit_trail::ENV_AUDIT_LOG_GROUP): reference(ids::AUDIT_LOG_GROUP),
                // A second line behind the usage plans, counted in the usage table.
                (usage_meter::turn_limit::ENV_USER_TURNS_PER_MINUTE): usage_meter::turn_limit::DEFAULT_USER_TURNS_PER_MINUTE.to_string(),
                "RUST_LOG": "info"
            },
            "Tags": tag_map(tags)
        }
    });
    // A tier without a guardrail in the tier file gets neither the grant nor the variables.
    if config.guardrail.is_none() {
        if let Some(statements) =
            role_resource["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].as_array_mut()
        {
            statements.retain(|st| st["Sid"] != "ApplyTheTiersGuardrail");
        }
        if let Some(env) = runtime_resource["Properties"]["EnvironmentVariables"].as_object_mut() {
            env.remove(agent::ENV_GUARDRAIL_ID);
            env.remove(agent::ENV_GUARDRAIL_VERSION);
        }
    }
    let env = runtime_resource["Properties"]["EnvironmentVariables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    runtime_resource["Metadata"] = json!({ "StartupParameters": crate::startup::parameters(&env) });
    t.resource(&role, role_resource)?;
    t.resource(&ids.runtime, runtime_resource)
}

/// The confused-deputy guard AWS documents for AgentCore service roles: only AgentCore
/// resources of this account and Region (a role is created before its runtime or gateway, so
/// the exact ARN cannot be named without a cycle).
fn agentcore_source_arn() -> Value {
    sub("arn:${AWS::Partition}:bedrock-agentcore:${AWS::Region}:${AWS::AccountId}:*")
}
