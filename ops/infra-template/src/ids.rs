//! Logical ids that more than one part of the template refers to, named once. (Per-function
//! ids come from `FunctionId`, per-tier ones from `TierIds`; ids used only where they are
//! defined stay literals there.) A test checks each names a resource or parameter.

use crate::cfn::pascal;

pub const DATA_KEY: &str = "DataKey";
pub const USER_POOL: &str = "UserPool";
pub const USER_POOL_CLIENT: &str = "UserPoolClient";
pub const REST_API: &str = "RestApi";
pub const TENANT_AUTHORIZER: &str = "TenantAuthorizer";
pub const ACCESS_LOGS_BUCKET: &str = "AccessLogsBucket";
pub const PATIENT_TABLE: &str = "PatientMetadataTable";
pub const CLINIC_TABLE: &str = "ClinicConfigTable";
pub const REGISTRY_TABLE: &str = "TenantRegistryTable";
pub const USAGE_TABLE: &str = "UsageTable";
pub const SITE_BUCKET: &str = "SiteBucket";
pub const SITE_DISTRIBUTION: &str = "SiteDistribution";
pub const USER_POOL_DOMAIN: &str = "UserPoolDomain";
pub const AUDIT_LOG_GROUP: &str = "AuditLogGroup";
pub const BUDGET_ALERT_TOPIC: &str = "BudgetAlertTopic";

/// Every constant above, for the test that they name something.
pub const ALL: [&str; 15] = [
    DATA_KEY,
    USER_POOL,
    USER_POOL_CLIENT,
    REST_API,
    TENANT_AUTHORIZER,
    ACCESS_LOGS_BUCKET,
    PATIENT_TABLE,
    CLINIC_TABLE,
    REGISTRY_TABLE,
    USAGE_TABLE,
    SITE_BUCKET,
    SITE_DISTRIBUTION,
    USER_POOL_DOMAIN,
    AUDIT_LOG_GROUP,
    BUDGET_ALERT_TOPIC,
];

/// Logical ids of one tier's resources.
pub struct TierIds {
    pub bucket: String,
    pub runtime: String,
    pub memory: String,
    pub gateway: String,
    pub target: String,
    pub knowledge_base: String,
    pub guardrail: String,
    pub guardrail_version: String,
}

impl TierIds {
    pub fn of(tier: &str) -> Self {
        let p = pascal(tier);
        Self {
            bucket: format!("{p}DocumentsBucket"),
            runtime: format!("{p}AgentRuntime"),
            memory: format!("{p}Memory"),
            gateway: format!("{p}Gateway"),
            target: format!("{p}GatewayTarget"),
            knowledge_base: format!("{p}KnowledgeBase"),
            guardrail: format!("{p}Guardrail"),
            guardrail_version: format!("{p}GuardrailVersion"),
        }
    }
}

/// How every tier's S3 vector bucket is named, `${NamePrefix}-vectors-<tier>-${AWS::AccountId}`
/// (an `Fn::Sub` string); the data key lets S3 Vectors index exactly these.
pub fn vector_bucket_name(tier: &str) -> String {
    format!("${{NamePrefix}}-vectors-{tier}-${{AWS::AccountId}}")
}
