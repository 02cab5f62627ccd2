//! The provider's operator policy: exactly what `tenant-admin` calls, on this stack's resources,
//! as a managed policy attached to nothing (the provider attaches it to the operator's role).
//! Generated with the template so that the IAM reference check (every action exists and takes
//! the resources named) covers it like every other policy of the stack.
//!
//! No KMS statement: the data key's policy lets this account's principals use the key through
//! DynamoDB, S3 and AgentCore, and CloudWatch Logs decrypts the audit trail itself.

use serde_json::{Value, json};
use tenant_context::TierCatalog;

use crate::Error;
use crate::Template;
use crate::cfn::{get_att, pascal, reference, sub};
use crate::iam::{document, statement};
use crate::ids::{self, TierIds};

pub const OPERATOR_POLICY: &str = "OperatorPolicy";

pub fn add(t: &mut Template, tiers: &TierCatalog) -> Result<(), Error> {
    let tier_ids: Vec<(String, TierIds)> = tiers
        .iter()
        .map(|(name, _)| (name.to_string(), TierIds::of(name.as_str())))
        .collect();
    let api = |path: &str| {
        sub(&format!(
            "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::{path}"
        ))
    };
    let mut keys = vec![api("/apikeys"), api("/apikeys/*")];
    for (name, _) in &tier_ids {
        let plan = format!("{}UsagePlan", pascal(name));
        keys.push(api(&format!("/usageplans/${{{plan}}}/keys")));
        keys.push(api(&format!("/usageplans/${{{plan}}}/keys/*")));
    }
    let table = |id: &str| get_att(id, "Arn");
    let memories: Vec<Value> = tier_ids
        .iter()
        .map(|(_, ids)| {
            sub(&format!(
                "arn:${{AWS::Partition}}:bedrock-agentcore:${{AWS::Region}}:${{AWS::AccountId}}:memory/${{{}.MemoryId}}",
                ids.memory
            ))
        })
        .collect();
    let buckets: Vec<Value> = tier_ids
        .iter()
        .map(|(_, ids)| get_att(&ids.bucket, "Arn"))
        .collect();
    let objects: Vec<Value> = tier_ids
        .iter()
        .map(|(_, ids)| sub(&format!("${{{}.Arn}}/*", ids.bucket)))
        .collect();
    let knowledge_bases: Vec<Value> = tier_ids
        .iter()
        .map(|(_, ids)| get_att(&ids.knowledge_base, "KnowledgeBaseArn"))
        .collect();
    let statements = vec![
        statement(
            "ManageTheClinicsUsers",
            &[
                "cognito-idp:AdminCreateUser",
                "cognito-idp:AdminGetUser",
                "cognito-idp:AdminUpdateUserAttributes",
                "cognito-idp:AdminSetUserPassword",
                "cognito-idp:AdminDisableUser",
                "cognito-idp:AdminEnableUser",
                "cognito-idp:AdminUserGlobalSignOut",
                "cognito-idp:AdminDeleteUser",
                "cognito-idp:ListUsers",
            ],
            json!([get_att(ids::USER_POOL, "Arn")]),
        ),
        // API Gateway authorizes by HTTP method on resource paths: the keys, and the keys of
        // this stack's usage plans.
        statement(
            "ManageTheClinicsApiKeys",
            &[
                "apigateway:GET",
                "apigateway:POST",
                "apigateway:PATCH",
                "apigateway:DELETE",
            ],
            Value::Array(keys),
        ),
        // Tagging a key (API Gateway has no TagResource action).
        statement(
            "TagTheApiKeys",
            &["apigateway:PUT"],
            json!([api("/tags/*")]),
        ),
        statement(
            "WriteTheRegistryAndClinicRows",
            &[
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
            ],
            json!([table(ids::REGISTRY_TABLE), table(ids::CLINIC_TABLE)]),
        ),
        statement(
            "ExportAndErasePatientRows",
            &["dynamodb:Query", "dynamodb:BatchWriteItem"],
            json!([table(ids::PATIENT_TABLE)]),
        ),
        statement(
            "ExportUsage",
            &["dynamodb:Query"],
            json!([table(ids::USAGE_TABLE)]),
        ),
        statement(
            "ExportAndEraseMemory",
            &[
                "bedrock-agentcore:ListActors",
                "bedrock-agentcore:ListSessions",
                "bedrock-agentcore:ListEvents",
                "bedrock-agentcore:DeleteEvent",
                "bedrock-agentcore:ListMemoryRecords",
                "bedrock-agentcore:BatchDeleteMemoryRecords",
            ],
            Value::Array(memories),
        ),
        statement(
            "ListTheDocumentBuckets",
            &["s3:ListBucket", "s3:ListBucketVersions"],
            Value::Array(buckets),
        ),
        statement(
            "MoveExportAndEraseDocuments",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
            ],
            Value::Array(objects),
        ),
        statement(
            "SyncTheKnowledgeBases",
            &["bedrock:StartIngestionJob", "bedrock:GetIngestionJob"],
            Value::Array(knowledge_bases),
        ),
        statement(
            "ReadTheAuditTrail",
            &["logs:FilterLogEvents"],
            json!([sub(&format!(
                "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{}}}:*",
                ids::AUDIT_LOG_GROUP
            ))]),
        ),
    ];
    t.resource(
        OPERATOR_POLICY,
        json!({
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "ManagedPolicyName": sub("${NamePrefix}-operator"),
                "Description": "What tenant-admin needs on this stack (attach it to the provider's operator role)",
                "PolicyDocument": document(statements)
            }
        }),
    )?;
    t.output(
        "OperatorPolicyArn",
        "The operator's policy for tenant-admin: attach it to the operator's role",
        reference(OPERATOR_POLICY),
    )
}
