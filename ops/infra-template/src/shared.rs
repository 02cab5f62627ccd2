//! Stack-wide parts: parameters, the data key, the user pool, the tables, the access-log bucket.

use serde_json::{Value, json};

use crate::cfn::{
    KEPT_ON_DELETION, KEPT_ON_REPLACEMENT, checkov_skips, get_att, reference, sub, tag_list,
    tag_map,
};
use crate::function_ids::FunctionId;
use crate::ids;
use crate::{Error, Template};

pub const APP_TAGS: [(&str, &str); 1] = [("Application", "tenantry")];

/// The parameter (and output) that marks a stack `production` or `test`.
const STACK_PURPOSE: &str = "StackPurpose";
const IS_TEST_STACK: &str = "IsTestStack";

/// The Cognito custom attributes that carry the tenant: set by administrators only.
/// (the token claim, its maximum length): the claims `tenant-context` reads, with its limits.
pub const TENANT_ATTRIBUTES: [(&str, usize); 3] = [
    (
        tenant_context::CLAIM_TIER,
        tenant_context::TIER_NAME_MAX_LEN,
    ),
    (
        tenant_context::CLAIM_CLINIC_ID,
        tenant_context::CLINIC_ID_MAX_LEN,
    ),
    (tenant_context::CLAIM_ROLE, tenant_context::ROLE_MAX_LEN),
];

/// `custom:tier` -> `tier`: the name a custom attribute has in the pool's schema.
fn schema_name(claim: &str) -> &str {
    claim.strip_prefix("custom:").unwrap_or(claim)
}

/// One DynamoDB table of the stack.
pub struct TableSpec {
    pub logical_id: &'static str,
    /// The name after `<prefix>-`.
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: Option<&'static str>,
    /// The DynamoDB TTL attribute, for tables whose rows expire.
    pub ttl: Option<&'static str>,
}

pub const TABLES: [TableSpec; 4] = [
    TableSpec {
        logical_id: ids::PATIENT_TABLE,
        name: "PatientMetadata",
        partition_key: "clinic_id",
        sort_key: Some("patient_id"),
        ttl: None,
    },
    TableSpec {
        logical_id: ids::CLINIC_TABLE,
        name: "ClinicConfig",
        partition_key: "clinic_id",
        sort_key: None,
        ttl: None,
    },
    TableSpec {
        logical_id: ids::REGISTRY_TABLE,
        name: "TenantRegistry",
        partition_key: tenant_registry::ATTR_CLINIC,
        sort_key: None,
        ttl: None,
    },
    TableSpec {
        logical_id: ids::USAGE_TABLE,
        name: "Usage",
        partition_key: usage_meter::ATTR_CLINIC,
        sort_key: Some(usage_meter::ATTR_DAY),
        ttl: Some(usage_meter::ATTR_EXPIRES),
    },
];

pub fn add(t: &mut Template) -> Result<(), Error> {
    parameters(t)?;
    data_key(t)?;
    user_pool(t)?;
    for spec in &TABLES {
        table(t, spec)?;
    }
    access_logs_bucket(t)?;
    audit_log_group(t)?;
    budget_alert_topic(t)?;
    Ok(())
}

/// Where the agents publish the clinics' token budget alerts (80% and 100% of a day's or a
/// month's budget, once each per period). The provider subscribes to it (e-mail, a queue, a
/// function). Encrypted with AWS's managed key for SNS: an alert names a clinic and token
/// counts, never patient data, and a customer-managed key would need its key policy to let
/// every subscriber's service decrypt.
fn budget_alert_topic(t: &mut Template) -> Result<(), Error> {
    t.resource(
        ids::BUDGET_ALERT_TOPIC,
        json!({
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": sub("${NamePrefix}-budget-alerts"),
                "DisplayName": "Tenantry budget alerts",
                "KmsMasterKeyId": "alias/aws/sns",
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    t.output(
        "BudgetAlertTopicArn",
        "The clinics' token budget alerts (80% and 100% of a day's or a month's budget): subscribe to be told",
        reference(ids::BUDGET_ALERT_TOPIC),
    )
}

/// The PHI access audit trail: one log group, a stream per clinic and UTC day. Written with
/// CreateLogStream and PutLogEvents only (CloudWatch Logs has no operation that edits or
/// deletes one event); kept for `AuditRetentionDays` (six years by default), under the data
/// key, protected from deletion and kept when the stack goes. The roles that touch it are
/// denied every way to destroy or shorten it (`functions::PROTECT_THE_AUDIT_TRAIL`).
fn audit_log_group(t: &mut Template) -> Result<(), Error> {
    t.parameter(
        "AuditRetentionDays",
        json!({
            "Type": "Number",
            "Default": 2192,
            "AllowedValues": [365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
            "Description": "Retention of the PHI access audit trail, in days (2192: six years, as HIPAA's documentation rule asks)."
        }),
    )?;
    t.resource(
        ids::AUDIT_LOG_GROUP,
        json!({
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": KEPT_ON_DELETION,
            "UpdateReplacePolicy": KEPT_ON_REPLACEMENT,
            "Properties": {
                "LogGroupName": sub("/${NamePrefix}/audit"),
                "LogGroupClass": "STANDARD",
                "RetentionInDays": reference("AuditRetentionDays"),
                "KmsKeyId": get_att(ids::DATA_KEY, "Arn"),
                // As the tables: off for a first creation, so a rolled-back first try leaves
                // nothing that blocks the retry; on once the stack is updated with it.
                "DeletionProtectionEnabled": { "Fn::If": [PROTECT_FROM_DELETION, true, false] },
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    t.output(
        "AuditLogGroupName",
        "The PHI access audit trail (tenant-admin audit --log-group)",
        reference(ids::AUDIT_LOG_GROUP),
    )?;
    t.output(
        "AuditRetentionDays",
        "How long the audit trail is kept, in days (how far back tenant-admin export reads it)",
        reference("AuditRetentionDays"),
    )
}

/// The parameter, and the condition that it is set, of the reserved concurrency.
pub const RESERVED_CONCURRENCY: &str = "ReservedConcurrency";
pub const RESERVE_CONCURRENCY: &str = "ReserveConcurrency";
/// The parameter and condition of deletion protection on the tables and the user pool.
pub const DELETION_PROTECTION: &str = "DeletionProtection";
pub const PROTECT_FROM_DELETION: &str = "ProtectFromDeletion";

fn parameters(t: &mut Template) -> Result<(), Error> {
    t.output(
        "NamePrefix",
        "Prefix of the stack's resource names (tenant API keys are named <prefix>-<clinic_id>)",
        reference("NamePrefix"),
    )?;
    t.parameter(
        "NamePrefix",
        json!({
            "Type": "String",
            "Default": "tenantry",
            "AllowedPattern": "^[a-z][a-z0-9]{2,15}$",
            "ConstraintDescription": "3-16 lowercase letters and digits, starting with a letter (AgentCore names allow no hyphens)",
            "Description": "Prefix of every resource name; one stack per prefix and Region."
        }),
    )?;
    t.parameter(
        "StageName",
        json!({
            "Type": "String",
            "Default": "v1",
            "AllowedPattern": "^[a-zA-Z0-9_]{1,64}$",
            "Description": "API Gateway stage name."
        }),
    )?;
    t.parameter(
        "ArtifactBucket",
        json!({
            "Type": "String",
            "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            "Description": "S3 bucket holding the function packages (scripts/deploy.sh creates and fills it)."
        }),
    )?;
    for f in crate::FUNCTIONS {
        t.parameter(
            &f.id.code_key(),
            json!({
                "Type": "String",
                "MinLength": 1,
                "Description": format!("S3 key of the {} package (bootstrap.zip built by cargo lambda).", f.crate_name)
            }),
        )?;
        // The artifact bucket is versioned: the function runs the one object deploy.sh uploaded
        // and checked, even if the key is written again afterwards.
        t.parameter(
            &f.id.code_version(),
            json!({
                "Type": "String",
                "MinLength": 1,
                "Description": format!("S3 object version of the {} package (scripts/deploy.sh checks its SHA-256 before and after).", f.crate_name)
            }),
        )?;
    }
    t.parameter(
        RESERVED_CONCURRENCY,
        json!({
            "Type": "Number",
            "Default": 0,
            "MinValue": 0,
            "MaxValue": 1000,
            "Description": "Concurrency reserved for (and capping) each function the agents reach without the front door: the two token vending functions and the tool target. 0 reserves none (reserving fails on new accounts with a low concurrency limit); set it for production."
        }),
    )?;
    t.condition(
        RESERVE_CONCURRENCY,
        json!({ "Fn::Not": [{ "Fn::Equals": [reference(RESERVED_CONCURRENCY), 0] }] }),
    )?;
    t.parameter(
        DELETION_PROTECTION,
        json!({
            "Type": "String",
            "Default": "on",
            "AllowedValues": ["on", "off"],
            "Description": "Deletion protection of the tables, the user pool and the audit trail. scripts/deploy.sh creates a new stack with it off, so that a failed first creation can roll back (delete) what it made, then turns it on."
        }),
    )?;
    t.condition(
        PROTECT_FROM_DELETION,
        json!({ "Fn::Equals": [reference(DELETION_PROTECTION), "on"] }),
    )?;
    t.parameter(
        "AgentRuntimeImageUri",
        json!({
            "Type": "String",
            // By digest only: a tag can be moved to another image, a digest cannot.
            "AllowedPattern": "^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$",
            "ConstraintDescription": "an ECR image by digest: account.dkr.ecr.region.amazonaws.com/repository@sha256:<64 hex> (scripts/deploy.sh builds and pushes it)",
            "Description": "The arm64 agent-runtime image by digest, in the ECR repository <NamePrefix>-agent-runtime; every tier's AgentCore Runtime runs it."
        }),
    )?;
    t.parameter(
        "PageTokenKeyParameter",
        json!({
            "Type": "String",
            "Default": "/tenantry/page-token-key",
            "AllowedPattern": "^/[a-zA-Z0-9_./-]+$",
            "Description": "SSM SecureString (base64, 32+ random bytes) the tool target signs page tokens with. CloudFormation cannot create SecureStrings: scripts/deploy.sh creates it once."
        }),
    )?;
    t.parameter(
        "SessionKeyParameter",
        json!({
            "Type": "String",
            "Default": "/tenantry/session-key",
            "AllowedPattern": "^/[a-zA-Z0-9_./-]+$",
            "Description": "SSM SecureString (base64, 32+ random bytes) with which request-proxy binds runtime session ids to users and the agent runtimes check them. scripts/deploy.sh creates it once."
        }),
    )?;
    t.parameter(
        STACK_PURPOSE,
        json!({
            "Type": "String",
            "Default": "production",
            "AllowedValues": ["production", "test"],
            "Description": "production: TOTP sign-in required and no password sign-in by API. test (synthetic data only): MFA optional and administrators may sign users in with a password (scripts/deploy.sh --test-stack; --test-users and verify-deployment need it)."
        }),
    )?;
    t.condition(
        IS_TEST_STACK,
        json!({ "Fn::Equals": [reference(STACK_PURPOSE), "test"] }),
    )?;
    t.parameter(
        "ThreatProtection",
        json!({
            "Type": "String",
            "Default": "ENFORCED",
            "AllowedValues": ["ENFORCED", "AUDIT"],
            "Description": "Cognito threat protection (compromised credentials, adaptive authentication; the Plus feature plan): ENFORCED blocks risky sign-ins, AUDIT only records them."
        }),
    )?;
    t.parameter(
        "LogRetentionDays",
        json!({
            "Type": "Number",
            "Default": 365,
            "AllowedValues": [90, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
            "Description": "Retention of the functions', the API's and the runtimes' CloudWatch log groups."
        }),
    )?;
    Ok(())
}

fn data_key(t: &mut Template) -> Result<(), Error> {
    let via = |service: &str| sub(&format!("{service}.${{AWS::Region}}.amazonaws.com"));
    t.resource(
        ids::DATA_KEY,
        json!({
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": KEPT_ON_DELETION,
            "UpdateReplacePolicy": KEPT_ON_REPLACEMENT,
            "Metadata": checkov_skips(&[(
                "CKV_AWS_33",
                "The wildcard principal is limited by kms:CallerAccount (this account) and kms:ViaService (DynamoDB, S3, S3 Vectors, AgentCore): the pattern of AWS managed keys, so tenant-scoped sessions can read their own rows, documents and memory without a key grant each."
            )]),
            "Properties": {
                "Description": { "Fn::Sub": "${NamePrefix}: patient data, tenant registry, documents, vectors, memory and logs" },
                "EnableKeyRotation": true,
                "PendingWindowInDays": 30,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministersTheKey",
                            "Effect": "Allow",
                            "Principal": { "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root") },
                            "Action": "kms:*",
                            "Resource": "*"
                        },
                        {
                            // AgentCore Memory (tenant-scoped sessions write and read events
                            // through it; its handler creates a grant for extraction) and S3
                            // Vectors (the knowledge bases' role writes and queries through it).
                            "Sid": "UseThroughTheDataServicesFromThisAccount",
                            "Effect": "Allow",
                            "Principal": { "AWS": "*" },
                            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"],
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {
                                    "kms:CallerAccount": reference("AWS::AccountId"),
                                    "kms:ViaService": [via("dynamodb"), via("s3"), via("s3vectors"), via("bedrock-agentcore")]
                                }
                            }
                        },
                        {
                            // S3 Vectors maintains its indexes in the background, as its own
                            // service principal: without this the index refuses writes.
                            "Sid": "S3VectorsIndexesThisStacksVectorBuckets",
                            "Effect": "Allow",
                            "Principal": { "Service": "indexing.s3vectors.amazonaws.com" },
                            "Action": "kms:Decrypt",
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": { "aws:SourceAccount": reference("AWS::AccountId") },
                                "ArnLike": { "aws:SourceArn": vector_buckets_arn() }
                            }
                        },
                        {
                            // The access-log bucket is encrypted with this key: S3's log
                            // delivery encrypts what the document buckets' logs write there.
                            "Sid": "S3LogDeliveryForThisStacksDocumentBuckets",
                            "Effect": "Allow",
                            "Principal": { "Service": "logging.s3.amazonaws.com" },
                            "Action": "kms:GenerateDataKey",
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": { "aws:SourceAccount": reference("AWS::AccountId") },
                                "ArnLike": { "aws:SourceArn": document_buckets_arn() }
                            }
                        },
                        {
                            "Sid": "CloudWatchLogsEncryptsThisStacksLogGroups",
                            "Effect": "Allow",
                            "Principal": { "Service": sub("logs.${AWS::Region}.amazonaws.com") },
                            // No kms:Describe*: DescribeKey takes no encryption context, so
                            // under this condition it was never granted (the IAM reference
                            // check, scripts/conformance/iam_reference.py).
                            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                            "Resource": "*",
                            "Condition": {
                                "ArnLike": {
                                    "kms:EncryptionContext:aws:logs:arn": sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*")
                                }
                            }
                        }
                    ]
                },
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    t.resource(
        "DataKeyAlias",
        json!({
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": sub("alias/${NamePrefix}-data"),
                "TargetKeyId": reference(ids::DATA_KEY)
            }
        }),
    )?;
    // For the log groups AgentCore creates itself (the runtimes'): scripts/deploy.sh puts them
    // under this key and this retention after the stack.
    t.output(
        "DataKeyArn",
        "The data key (patient data, documents, memory, logs)",
        get_att(ids::DATA_KEY, "Arn"),
    )?;
    t.output(
        "LogRetentionDays",
        "Retention of the stack's log groups, in days",
        reference("LogRetentionDays"),
    )
}

fn user_pool(t: &mut Template) -> Result<(), Error> {
    let mut schema = vec![json!({
        "Name": "email", "AttributeDataType": "String", "Required": true, "Mutable": true
    })];
    for (claim, max) in TENANT_ATTRIBUTES {
        schema.push(json!({
            "Name": schema_name(claim),
            "AttributeDataType": "String",
            // Users cannot write any of them (the app client's WriteAttributes leaves them out).
            // The tier and role stay mutable so an administrator can move a tenant between
            // tiers or change a user's role; the clinic never changes, not even by an
            // administrator: a user of another clinic is a new user.
            "Mutable": claim != tenant_context::CLAIM_CLINIC_ID,
            "StringAttributeConstraints": { "MinLength": "1", "MaxLength": max.to_string() }
        }));
    }
    t.resource(
        ids::USER_POOL,
        json!({
            "Type": "AWS::Cognito::UserPool",
            "DeletionPolicy": KEPT_ON_DELETION,
            "UpdateReplacePolicy": KEPT_ON_REPLACEMENT,
            "Properties": {
                "UserPoolName": sub("${NamePrefix}-users"),
                "AdminCreateUserConfig": { "AllowAdminCreateUserOnly": true },
                "Schema": schema,
                "AutoVerifiedAttributes": ["email"],
                "Policies": { "PasswordPolicy": {
                    "MinimumLength": 14,
                    "RequireLowercase": true,
                    "RequireUppercase": true,
                    "RequireNumbers": true,
                    "RequireSymbols": true,
                    "TemporaryPasswordValidityDays": 3
                }},
                // Users read patient data: TOTP required, except on a test stack, whose
                // users get generated passwords (and could not set TOTP up first).
                "MfaConfiguration": { "Fn::If": [IS_TEST_STACK, "OPTIONAL", "ON"] },
                "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                // Threat protection needs the Plus feature plan.
                "UserPoolTier": "PLUS",
                "UserPoolAddOns": { "AdvancedSecurityMode": reference("ThreatProtection") },
                "AccountRecoverySetting": { "RecoveryMechanisms": [{ "Name": "verified_email", "Priority": 1 }] },
                "DeletionProtection": { "Fn::If": [PROTECT_FROM_DELETION, "ACTIVE", "INACTIVE"] },
                // No tokens for a user whose tenant is unknown, suspended or of another tier
                // than the registry says (the Runtimes and Gateways never read the registry).
                "LambdaConfig": { "PreTokenGenerationConfig": {
                    "LambdaArn": FunctionId::PreToken.arn(),
                    "LambdaVersion": "V1_0"
                }},
                "UserPoolTags": tag_map(&APP_TAGS)
            }
        }),
    )?;
    t.resource(
        "PreTokenInvokePermission",
        json!({
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": FunctionId::PreToken.arn(),
                "Principal": "cognito-idp.amazonaws.com",
                "SourceAccount": reference("AWS::AccountId"),
                "SourceArn": get_att(ids::USER_POOL, "Arn")
            }
        }),
    )?;
    let read: Vec<String> = ["email", "email_verified"]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(
            TENANT_ATTRIBUTES
                .iter()
                .map(|(claim, _)| (*claim).to_owned()),
        )
        .collect();
    t.resource(
        ids::USER_POOL_CLIENT,
        json!({
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "ClientName": sub("${NamePrefix}-app"),
                "UserPoolId": reference(ids::USER_POOL),
                "GenerateSecret": false,
                // Password sign-in by API (AdminInitiateAuth, for the test users and
                // verify-deployment's probes) only on a test stack.
                "ExplicitAuthFlows": { "Fn::If": [IS_TEST_STACK,
                    ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"],
                    ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]] },
                "ReadAttributes": read,
                // The tenant attributes are deliberately absent: a user who could write
                // custom:tier or custom:clinic_id could move themselves into another tenant.
                // The e-mail too: it is where account recovery goes, so only an administrator
                // changes it.
                "WriteAttributes": ["name"],
                "PreventUserExistenceErrors": "ENABLED",
                "EnableTokenRevocation": true,
                // The web chat signs in with Cognito's managed login: the authorization code
                // flow with PKCE (a public client), back to the page's own address only.
                "AllowedOAuthFlowsUserPoolClient": true,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid"],
                "SupportedIdentityProviders": ["COGNITO"],
                "CallbackURLs": [sub("https://${SiteDistribution.DomainName}/")],
                "LogoutURLs": [sub("https://${SiteDistribution.DomainName}/")],
                // Short-lived tokens: the Runtimes and Gateways accept them directly, so a
                // revoked or suspended user's token must not stay useful for long.
                "IdTokenValidity": tenant_context::ID_TOKEN_LIFETIME.as_secs() / 60,
                "AccessTokenValidity": 15,
                "RefreshTokenValidity": 8,
                "AuthSessionValidity": 3,
                "TokenValidityUnits": { "IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "hours" }
            }
        }),
    )?;
    t.output(
        "UserPoolId",
        "Cognito user pool id",
        reference(ids::USER_POOL),
    )?;
    t.output(
        "UserPoolClientId",
        "App client id (the ID tokens' audience)",
        reference(ids::USER_POOL_CLIENT),
    )?;
    t.output("TokenIssuer", "ID token issuer", issuer())?;
    t.output(
        STACK_PURPOSE,
        "production or test (tenant-admin --test-users and verify-deployment need test)",
        reference(STACK_PURPOSE),
    )?;
    Ok(())
}

/// The pool's issuer URL (the `iss` of its tokens).
pub fn issuer() -> Value {
    sub("https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}")
}

pub fn jwks_url() -> Value {
    sub("https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}/.well-known/jwks.json")
}

fn table(t: &mut Template, spec: &TableSpec) -> Result<(), Error> {
    let TableSpec {
        logical_id: id,
        name,
        partition_key: hash,
        sort_key: range,
        ttl,
    } = *spec;
    let mut attributes = vec![json!({ "AttributeName": hash, "AttributeType": "S" })];
    let mut keys = vec![json!({ "AttributeName": hash, "KeyType": "HASH" })];
    if let Some(range) = range {
        attributes.push(json!({ "AttributeName": range, "AttributeType": "S" }));
        keys.push(json!({ "AttributeName": range, "KeyType": "RANGE" }));
    }
    let mut resource = json!({
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": KEPT_ON_DELETION,
        "UpdateReplacePolicy": KEPT_ON_REPLACEMENT,
        "Properties": {
            "TableName": sub(&format!("${{NamePrefix}}-{name}")),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": attributes,
            "KeySchema": keys,
            "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": true },
            "SSESpecification": { "SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": reference(ids::DATA_KEY) },
            "DeletionProtectionEnabled": { "Fn::If": [PROTECT_FROM_DELETION, true, false] },
            "Tags": tag_list(&APP_TAGS)
        }
    });
    // Rows that expire (the usage counters) go by DynamoDB TTL, at no write cost.
    if let Some(attribute) = ttl {
        resource["Properties"]["TimeToLiveSpecification"] =
            json!({ "AttributeName": attribute, "Enabled": true });
    }
    t.resource(id, resource)?;
    t.output(
        &format!("{name}TableName"),
        &format!("{name} table"),
        reference(id),
    )
}

/// Every document bucket of the stack (`<prefix>-docs-<account>-<region>-<tier>`).
/// Every tier's vector bucket and its indexes.
fn vector_buckets_arn() -> Value {
    let any_tier = ids::vector_bucket_name("*");
    let any_tier = any_tier
        .split_once("*")
        .map_or(any_tier.as_str(), |(head, _)| head);
    sub(&format!(
        "arn:${{AWS::Partition}}:s3vectors:${{AWS::Region}}:${{AWS::AccountId}}:bucket/{any_tier}*"
    ))
}

fn document_buckets_arn() -> Value {
    sub("arn:${AWS::Partition}:s3:::${NamePrefix}-docs-${AWS::AccountId}-${AWS::Region}-*")
}

fn access_logs_bucket(t: &mut Template) -> Result<(), Error> {
    t.resource(
        ids::ACCESS_LOGS_BUCKET,
        json!({
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": KEPT_ON_DELETION,
            "UpdateReplacePolicy": KEPT_ON_REPLACEMENT,
            "Metadata": checkov_skips(&[
                ("CKV_AWS_18", "This is the access-log destination of the document buckets; logging it into itself would loop.")
            ]),
            // The data key, like the buckets it logs (the key policy lets S3's log delivery use
            // it for those buckets only).
            "Properties": bucket_properties(data_key_encryption(), json!({
                "BucketName": sub("${NamePrefix}-access-logs-${AWS::AccountId}-${AWS::Region}"),
                "LifecycleConfiguration": { "Rules": [{
                    "Id": "expire-access-logs",
                    "Status": "Enabled",
                    "ExpirationInDays": 731,
                    "NoncurrentVersionExpiration": { "NoncurrentDays": 30 }
                }]},
                "Tags": tag_list(&APP_TAGS)
            }))
        }),
    )?;
    bucket_policy(
        t,
        ids::ACCESS_LOGS_BUCKET,
        vec![json!(
                        {
                            "Sid": "S3ServerAccessLogDelivery",
                            "Effect": "Allow",
                            "Principal": { "Service": "logging.s3.amazonaws.com" },
                            "Action": "s3:PutObject",
                            "Resource": sub("${AccessLogsBucket.Arn}/*"),
                            "Condition": {
                                "StringEquals": { "aws:SourceAccount": reference("AWS::AccountId") },
                                // Only the stack's document buckets log here.
                                "ArnLike": { "aws:SourceArn": document_buckets_arn() }
                            }
                        }
        )],
    )
}

/// What every bucket of the stack has (no public access, objects owned by the bucket owner,
/// versioning) and its encryption, with the bucket's own properties.
pub fn bucket_properties(encryption: Value, own: Value) -> Value {
    let mut props = json!({
        "BucketEncryption": { "ServerSideEncryptionConfiguration": [encryption] },
        "PublicAccessBlockConfiguration": public_access_block(),
        "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
        "VersioningConfiguration": { "Status": "Enabled" },
    });
    if let (Some(all), Value::Object(own)) = (props.as_object_mut(), own) {
        all.extend(own);
    }
    props
}

/// Encryption under the stack's data key, with S3 Bucket Keys (fewer KMS calls).
pub fn data_key_encryption() -> Value {
    json!({
        "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": get_att(ids::DATA_KEY, "Arn") },
        "BucketKeyEnabled": true
    })
}

fn public_access_block() -> Value {
    json!({
        "BlockPublicAcls": true,
        "BlockPublicPolicy": true,
        "IgnorePublicAcls": true,
        "RestrictPublicBuckets": true
    })
}

/// Denies every request to the bucket that does not use TLS.
pub fn tls_only_statement(bucket: &str) -> Value {
    json!({
        "Sid": "DenyRequestsWithoutTls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [get_att(bucket, "Arn"), sub(&format!("${{{bucket}.Arn}}/*"))],
        "Condition": { "Bool": { "aws:SecureTransport": "false" } }
    })
}

/// `<bucket>Policy`: TLS only, plus `allow` (statements granting what the bucket is for).
pub fn bucket_policy(t: &mut Template, bucket: &str, allow: Vec<Value>) -> Result<(), Error> {
    let mut statements = vec![tls_only_statement(bucket)];
    statements.extend(allow);
    t.resource(
        &format!("{bucket}Policy"),
        json!({
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": reference(bucket),
                "PolicyDocument": { "Version": "2012-10-17", "Statement": statements }
            }
        }),
    )
}

/// A KMS-encrypted log group with the stack's retention.
pub fn log_group(t: &mut Template, id: &str, name: Value) -> Result<(), Error> {
    t.resource(
        id,
        json!({
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": KEPT_ON_DELETION,
            "UpdateReplacePolicy": KEPT_ON_REPLACEMENT,
            "Properties": {
                "LogGroupName": name,
                "RetentionInDays": reference("LogRetentionDays"),
                "KmsKeyId": get_att(ids::DATA_KEY, "Arn"),
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )
}
