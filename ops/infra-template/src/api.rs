//! The front door: API Gateway REST with the tenant authorizer, per-tenant API keys supplied by
//! the authorizer (`apiKeySource: AUTHORIZER`), one usage plan per tier, and a WAF web ACL.

use serde_json::json;

use crate::cfn::{
    KEPT_ON_DELETION, KEPT_ON_REPLACEMENT, checkov_skips, get_att, pascal, reference, sub, tag_list,
};
use crate::functions::FunctionId;
use crate::iam::plain_service_trust;
use crate::ids;
use crate::shared::{APP_TAGS, log_group};
use crate::{Error, Inputs, Template};

/// `GET /usage` across all tenants (requests per second, burst): a page load or an answer
/// reads it once, so this is generous for hundreds of clinicians and still bounds a flood.
pub const USAGE_RATE_LIMIT: f64 = 50.0;
pub const USAGE_BURST_LIMIT: u32 = 100;
/// `GET /audit` across all tenants: admins look now and then; each look may search CloudWatch
/// Logs several times (FilterLogEvents has an account-wide quota).
pub const AUDIT_RATE_LIMIT: f64 = 5.0;
pub const AUDIT_BURST_LIMIT: u32 = 10;

pub fn add(t: &mut Template, inputs: &Inputs) -> Result<(), Error> {
    t.resource(
        ids::REST_API,
        json!({
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Name": sub("${NamePrefix}-api"),
                "Description": "Tenantry front door: one API key per tenant, chosen by the authorizer",
                // The authorizer returns the tenant's key (usageIdentifierKey): callers never
                // hold or send an API key, and cannot pick another tenant's plan.
                "ApiKeySourceType": "AUTHORIZER",
                "EndpointConfiguration": { "Types": ["REGIONAL"] },
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    t.resource(
        "InvokeResource",
        json!({
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": reference(ids::REST_API),
                "ParentId": get_att(ids::REST_API, "RootResourceId"),
                "PathPart": "invoke"
            }
        }),
    )?;
    t.resource(
        ids::TENANT_AUTHORIZER,
        json!({
            "Type": "AWS::ApiGateway::Authorizer",
            "Properties": {
                "Name": "tenant-authorizer",
                "RestApiId": reference(ids::REST_API),
                "Type": "TOKEN",
                "IdentitySource": "method.request.header.Authorization",
                // Rejects anything that is not a Bearer JWT before the function runs.
                "IdentityValidationExpression": "^Bearer [A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$",
                // Short, so a suspended tenant is refused within about a minute.
                "AuthorizerResultTtlInSeconds": 60,
                "AuthorizerUri": sub("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${TenantAuthorizerFunction.Arn}/invocations")
            }
        }),
    )?;
    t.resource(
        "InvokeMethod",
        json!({
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": reference(ids::REST_API),
                "ResourceId": reference("InvokeResource"),
                "HttpMethod": "POST",
                "AuthorizationType": "CUSTOM",
                "AuthorizerId": reference(ids::TENANT_AUTHORIZER),
                "ApiKeyRequired": true,
                // The answer streams: API Gateway invokes request-proxy with
                // InvokeWithResponseStream and passes the agent's events on as they come.
                "Integration": {
                    "Type": "AWS_PROXY",
                    "IntegrationHttpMethod": "POST",
                    "ResponseTransferMode": "STREAM",
                    "TimeoutInMillis": crate::functions::STREAM_TIMEOUT_SECS * 1000,
                    "Uri": sub("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2021-11-15/functions/${RequestProxyFunction.Arn}/response-streaming-invocations")
                }
            }
        }),
    )?;
    // The clinic's own day (remaining requests; usage for its admin). Same authorizer and
    // function; no API key, so looking does not spend the tier's quota. It is throttled per
    // method on the stage instead (below) and by the WAF's per-address rule.
    clinic_read(t, "Usage", "usage", 10_000)?;
    // The clinic's own PHI access audit trail (its admin only, checked by the function); a
    // page may take several FilterLogEvents calls.
    clinic_read(t, "Audit", "audit", 29_000)?;
    t.resource(
        "ApiDeployment",
        json!({
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": ["InvokeMethod", "UsageMethod", "AuditMethod"],
            "Properties": { "RestApiId": reference(ids::REST_API) }
        }),
    )?;
    log_group(
        t,
        "ApiAccessLogGroup",
        sub("/aws/apigateway/${NamePrefix}-api"),
    )?;
    t.resource(
        "ApiStage",
        json!({
            "Type": "AWS::ApiGateway::Stage",
            "DependsOn": ["ApiGatewayAccount"],
            "Metadata": checkov_skips(&[
                ("CKV_AWS_120", "Responses are per user and carry patient data: caching them could serve one user's answer to another.")
            ]),
            "Properties": {
                "RestApiId": reference(ids::REST_API),
                "DeploymentId": reference("ApiDeployment"),
                "StageName": reference("StageName"),
                "TracingEnabled": true,
                "AccessLogSetting": {
                    "DestinationArn": get_att("ApiAccessLogGroup", "Arn"),
                    // No bodies, no tokens: who (principal, tenant API key id), what, outcome.
                    "Format": "{\"requestId\":\"$context.requestId\",\"time\":\"$context.requestTime\",\"ip\":\"$context.identity.sourceIp\",\"principalId\":\"$context.authorizer.principalId\",\"apiKeyId\":\"$context.identity.apiKeyId\",\"method\":\"$context.httpMethod\",\"path\":\"$context.resourcePath\",\"status\":\"$context.status\",\"latencyMs\":\"$context.responseLatency\",\"authorizerStatus\":\"$context.authorizer.status\",\"errorType\":\"$context.error.responseType\"}"
                },
                "MethodSettings": [{
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "LoggingLevel": "ERROR",
                    // Never log request or response bodies: they hold patient data.
                    "DataTraceEnabled": false,
                    "MetricsEnabled": true,
                    "CachingEnabled": false
                }, {
                    // Not metered by the usage plans (no API key): a stage-wide cap instead.
                    "ResourcePath": "/usage",
                    "HttpMethod": "GET",
                    "LoggingLevel": "ERROR",
                    "DataTraceEnabled": false,
                    "MetricsEnabled": true,
                    "CachingEnabled": false,
                    "ThrottlingRateLimit": USAGE_RATE_LIMIT,
                    "ThrottlingBurstLimit": USAGE_BURST_LIMIT
                }, {
                    "ResourcePath": "/audit",
                    "HttpMethod": "GET",
                    "LoggingLevel": "ERROR",
                    "DataTraceEnabled": false,
                    "MetricsEnabled": true,
                    "CachingEnabled": false,
                    "ThrottlingRateLimit": AUDIT_RATE_LIMIT,
                    "ThrottlingBurstLimit": AUDIT_BURST_LIMIT
                }],
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    // API Gateway writes logs through one role per account and Region. Kept on stack deletion:
    // the account setting outlives the stack, and other APIs of the account may log through it.
    t.resource(
        "ApiGatewayCloudWatchRole",
        json!({
            "Type": "AWS::IAM::Role",
            "DeletionPolicy": KEPT_ON_DELETION,
            "UpdateReplacePolicy": KEPT_ON_REPLACEMENT,
            "Properties": {
                // Account-wide (every API of the account logs through it), and as AWS documents
                // it: no confused-deputy keys, which API Gateway is not documented to pass (a
                // role it cannot assume fails the AWS::ApiGateway::Account below).
                "AssumeRolePolicyDocument": plain_service_trust("apigateway.amazonaws.com"),
                "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")],
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    t.resource(
        "ApiGatewayAccount",
        json!({
            "Type": "AWS::ApiGateway::Account",
            "Properties": { "CloudWatchRoleArn": get_att("ApiGatewayCloudWatchRole", "Arn") }
        }),
    )?;
    for (permission, function, source) in [
        (
            "TenantAuthorizerInvokePermission",
            FunctionId::TenantAuthorizer,
            "authorizers/${TenantAuthorizer}",
        ),
        (
            "RequestProxyInvokePermission",
            FunctionId::RequestProxy,
            "${StageName}/POST/invoke",
        ),
        (
            "RequestProxyUsagePermission",
            FunctionId::RequestProxy,
            "${StageName}/GET/usage",
        ),
        (
            "RequestProxyAuditPermission",
            FunctionId::RequestProxy,
            "${StageName}/GET/audit",
        ),
    ] {
        t.resource(
            permission,
            json!({
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": function.arn(),
                    "Principal": "apigateway.amazonaws.com",
                    "SourceAccount": reference("AWS::AccountId"),
                    "SourceArn": sub(&format!("arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{RestApi}}/{source}"))
                }
            }),
        )?;
    }
    for (tier, config) in inputs.tiers.iter() {
        let plan = &config.usage_plan;
        let id = format!("{}UsagePlan", pascal(tier.as_str()));
        t.resource(
            &id,
            json!({
                "Type": "AWS::ApiGateway::UsagePlan",
                "DependsOn": ["ApiStage"],
                "Properties": {
                    "UsagePlanName": sub(&format!("${{NamePrefix}}-{}", tier.as_str())),
                    "Description": format!("{} (per tenant API key; from infra/tiers.json)", config.display_name),
                    "ApiStages": [{ "ApiId": reference(ids::REST_API), "Stage": reference("StageName") }],
                    "Throttle": { "RateLimit": plan.rate_limit, "BurstLimit": plan.burst_limit },
                    "Quota": { "Limit": plan.quota.limit, "Period": plan.quota.period },
                    "Tags": tag_list(&[("Application", "tenantry"), ("Tier", tier.as_str())])
                }
            }),
        )?;
        t.output(
            &format!("{}UsagePlanId", pascal(tier.as_str())),
            &format!(
                "Usage plan of the {} tier: tenants' API keys are attached to it",
                tier.as_str()
            ),
            reference(&id),
        )?;
    }
    t.output(
        "ApiEndpoint",
        "POST here with `Authorization: Bearer <Cognito ID token>`",
        sub("https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}/invoke"),
    )?;
    t.output(
        "UsageEndpoint",
        "GET here with the same token: the clinic's remaining requests today (and usage, for its admin)",
        sub("https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}/usage"),
    )?;
    t.output("RestApiId", "REST API id", reference(ids::REST_API))?;
    waf(t)
}

/// Requests one source address may send in five minutes: 10 per second on average, the premium
/// plan's rate, so a hospital's users behind one address are not cut off by it.
pub(crate) const PER_IP_REQUESTS_PER_5_MIN: u32 = 3000;

/// The largest body the API takes: request-proxy's for its (template-set) prompt limit. It must
/// not exceed the 16 KiB AWS WAF inspects of an API Gateway body by default.
pub const MAX_BODY_BYTES: usize =
    request_proxy::config::max_body_bytes(request_proxy::config::DEFAULT_MAX_PROMPT_BYTES);
const _: () = assert!(MAX_BODY_BYTES <= 16 * 1024);

/// The header CloudFront adds to every request it sends the API, with the stack's origin secret:
/// the regional web ACL leaves requests that carry it to the edge web ACL's per-client rule.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";
/// The (NoEcho) parameter holding the origin secret.
pub const ORIGIN_VERIFY_PARAMETER: &str = "OriginVerifySecret";

/// AWS managed rule groups and a per-address rate limit in front of the API, and their logs.
fn waf(t: &mut Template) -> Result<(), Error> {
    t.parameter(
        ORIGIN_VERIFY_PARAMETER,
        json!({
            "Type": "String",
            "NoEcho": true,
            "MinLength": 32,
            "AllowedPattern": "^[A-Za-z0-9+/=_-]+$",
            "Description": "The secret CloudFront sends the API in x-origin-verify (scripts/deploy.sh keeps it in the SSM SecureString /<prefix>/origin-verify and passes it here)."
        }),
    )?;
    let managed = |name: &str, priority: u32| {
        json!({
            "Name": name,
            "Priority": priority,
            "OverrideAction": { "None": {} },
            "Statement": { "ManagedRuleGroupStatement": { "VendorName": "AWS", "Name": name } },
            "VisibilityConfig": { "SampledRequestsEnabled": false, "CloudWatchMetricsEnabled": true, "MetricName": name }
        })
    };
    // The common rule set blocks bodies over 8 KB, below the prompt limit: that rule only
    // counts here, and our own rule blocks what request-proxy would refuse anyway.
    let mut common = managed("AWSManagedRulesCommonRuleSet", 0);
    common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"] = json!([
        { "Name": "SizeRestrictions_BODY", "ActionToUse": { "Count": {} } }
    ]);
    t.resource(
        "ApiWebAcl",
        json!({
            "Type": "AWS::WAFv2::WebACL",
            "Properties": {
                "Name": sub("${NamePrefix}-api"),
                "Scope": "REGIONAL",
                "DefaultAction": { "Allow": {} },
                "Rules": [
                    common,
                    managed("AWSManagedRulesKnownBadInputsRuleSet", 1),
                    // One limit with request-proxy's: a body larger than the proxy reads for
                    // its prompt limit (and larger than WAF inspects, OversizeHandling MATCH).
                    {
                        "Name": "BodyLargerThanThePromptLimit",
                        "Priority": 3,
                        "Action": { "Block": {} },
                        "Statement": { "SizeConstraintStatement": {
                            "FieldToMatch": { "Body": { "OversizeHandling": "MATCH" } },
                            "ComparisonOperator": "GT",
                            "Size": MAX_BODY_BYTES,
                            "TextTransformations": [{ "Priority": 0, "Type": "NONE" }]
                        }},
                        "VisibilityConfig": { "SampledRequestsEnabled": false, "CloudWatchMetricsEnabled": true, "MetricName": "BodyLargerThanThePromptLimit" }
                    },
                    // Before the usage plans: they meter per tenant key once a token passed
                    // the authorizer; this caps what one address can send at all, tokens or not.
                    // Not for requests from the distribution (the origin secret): here they
                    // all come from CloudFront's few addresses, and the edge web ACL limits
                    // each client's own address instead.
                    {
                        "Name": "PerSourceAddressRate",
                        "Priority": 2,
                        "Action": { "Block": {} },
                        "Statement": { "RateBasedStatement": {
                            "Limit": PER_IP_REQUESTS_PER_5_MIN,
                            "EvaluationWindowSec": 300,
                            "AggregateKeyType": "IP",
                            "ScopeDownStatement": { "NotStatement": { "Statement": { "ByteMatchStatement": {
                                "FieldToMatch": { "SingleHeader": { "Name": ORIGIN_VERIFY_HEADER } },
                                "PositionalConstraint": "EXACTLY",
                                "SearchString": reference(ORIGIN_VERIFY_PARAMETER),
                                "TextTransformations": [{ "Priority": 0, "Type": "NONE" }]
                            }}}}
                        }},
                        "VisibilityConfig": { "SampledRequestsEnabled": false, "CloudWatchMetricsEnabled": true, "MetricName": "PerSourceAddressRate" }
                    }
                ],
                // Sampled requests would keep request bodies (patient data) in the WAF console.
                "VisibilityConfig": { "SampledRequestsEnabled": false, "CloudWatchMetricsEnabled": true, "MetricName": "tenantry-api" },
                "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    t.resource(
        "ApiWebAclAssociation",
        json!({
            "Type": "AWS::WAFv2::WebACLAssociation",
            "DependsOn": ["ApiStage"],
            "Properties": {
                "ResourceArn": sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${RestApi}/stages/${StageName}"),
                "WebACLArn": get_att("ApiWebAcl", "Arn")
            }
        }),
    )?;
    // WAF log groups must be named aws-waf-logs-*.
    log_group(
        t,
        "ApiWebAclLogGroup",
        sub("aws-waf-logs-${NamePrefix}-api"),
    )?;
    t.resource(
        "ApiWebAclLogging",
        json!({
            "Type": "AWS::WAFv2::LoggingConfiguration",
            "DependsOn": ["ApiWebAclLogGroup"],
            "Properties": {
                "ResourceArn": get_att("ApiWebAcl", "Arn"),
                "LogDestinationConfigs": [sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:aws-waf-logs-${NamePrefix}-api")],
                // Headers carry the bearer token and the origin secret.
                "RedactedFields": [
                    { "SingleHeader": { "Name": "authorization" } },
                    { "SingleHeader": { "Name": ORIGIN_VERIFY_HEADER } }
                ]
            }
        }),
    )?;
    Ok(())
}

/// `GET /<path>` on the front door for a clinic's own reads (`<name>Resource`,
/// `<name>Method`): the tenant authorizer, no API key (reading does not spend the tier's
/// quota; the stage throttles the method), request-proxy behind it with Lambda response
/// streaming, as every route to it.
fn clinic_read(t: &mut Template, name: &str, path: &str, timeout_ms: u32) -> Result<(), Error> {
    let resource = format!("{name}Resource");
    t.resource(
        &resource,
        json!({
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": reference(ids::REST_API),
                "ParentId": get_att(ids::REST_API, "RootResourceId"),
                "PathPart": path
            }
        }),
    )?;
    t.resource(
        &format!("{name}Method"),
        json!({
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": reference(ids::REST_API),
                "ResourceId": reference(&resource),
                "HttpMethod": "GET",
                "AuthorizationType": "CUSTOM",
                "AuthorizerId": reference(ids::TENANT_AUTHORIZER),
                "ApiKeyRequired": false,
                "Integration": {
                    "Type": "AWS_PROXY",
                    "IntegrationHttpMethod": "POST",
                    "ResponseTransferMode": "STREAM",
                    "TimeoutInMillis": timeout_ms,
                    "Uri": sub("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2021-11-15/functions/${RequestProxyFunction.Arn}/response-streaming-invocations")
                }
            }
        }),
    )
}
