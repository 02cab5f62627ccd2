//! The authorizer: verified ID token -> registry -> Allow (with the tenant's API key as
//! `usageIdentifierKey`) or Deny.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use tenant_context::{
    CLAIM_CLINIC_ID, CLAIM_ROLE, CLAIM_SUB, CLAIM_TIER, TenantContext, TokenVerifier,
};

use crate::error::AuthError;
use crate::registry::{Directory, TenantStatus};

pub struct Deps<D> {
    pub verifier: TokenVerifier,
    pub directory: D,
}

pub async fn handle<D: Directory>(
    event: LambdaEvent<Value>,
    deps: &Deps<D>,
) -> Result<ApiGatewayCustomAuthorizerResponse, AuthError> {
    authorize(&event.payload, deps).await
}

/// The Bearer token of a TOKEN authorizer (`authorizationToken`) or a REQUEST authorizer
/// (the `Authorization` header), read as every other hop reads it.
fn bearer(event: &Value) -> Option<&str> {
    let raw = event
        .get("authorizationToken")
        .and_then(Value::as_str)
        .or_else(|| {
            event
                .get("headers")
                .and_then(Value::as_object)
                .and_then(|h| {
                    h.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                })
                .and_then(|(_, v)| v.as_str())
        })?;
    contracts::bearer::parse(raw)
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{method}/{path...}` -> every method
/// and path of that stage, so a cached policy serves the identity's later calls too.
fn stage_wildcard(method_arn: &str) -> Result<String, AuthError> {
    let parts: Vec<&str> = method_arn.splitn(6, ':').collect();
    let [arn, _partition, service, _region, _account, rest] = parts.as_slice() else {
        return Err(AuthError::BadEvent("methodArn is not an execute-api ARN"));
    };
    let mut path = rest.splitn(3, '/');
    match (*arn, *service, path.next(), path.next()) {
        ("arn", "execute-api", Some(api), Some(stage)) if !api.is_empty() && !stage.is_empty() => {
            let prefix_len = method_arn.len() - rest.len();
            Ok(format!("{}{api}/{stage}/*/*", &method_arn[..prefix_len]))
        }
        _ => Err(AuthError::BadEvent("methodArn is not an execute-api ARN")),
    }
}

fn policy(
    principal: &str,
    effect: IamPolicyEffect,
    resource: String,
    context: Value,
    key: Option<String>,
) -> ApiGatewayCustomAuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = effect;
    statement.resource = vec![resource];
    let mut document = ApiGatewayCustomAuthorizerPolicy::default();
    document.version = Some("2012-10-17".to_owned());
    document.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(principal.to_owned());
    response.policy_document = document;
    response.context = context;
    response.usage_identifier_key = key;
    response
}

fn deny(
    tenant: &TenantContext,
    resource: String,
    reason: &'static str,
) -> ApiGatewayCustomAuthorizerResponse {
    tracing::warn!(
        security_event = "tenant_denied",
        reason,
        tier = %tenant.tier(),
        clinic_id = %tenant.clinic_id(),
        user_id = %tenant.user(),
    );
    policy(
        tenant.user().as_str(),
        IamPolicyEffect::Deny,
        resource,
        json!({ "reason": reason }),
        None,
    )
}

pub async fn authorize<D: Directory>(
    event: &Value,
    deps: &Deps<D>,
) -> Result<ApiGatewayCustomAuthorizerResponse, AuthError> {
    let method_arn = event
        .get("methodArn")
        .and_then(Value::as_str)
        .ok_or(AuthError::BadEvent("no methodArn"))?;
    let resource = stage_wildcard(method_arn)?;
    let token = bearer(event).ok_or(AuthError::Unauthorized(None))?;
    let verified = deps.verifier.verify(token).await.map_err(|e| {
        if e.is_retryable() {
            tracing::error!(code = e.code(), "identity provider unavailable");
            AuthError::Unavailable
        } else {
            tracing::warn!(security_event = "token_refused", code = e.code());
            AuthError::Unauthorized(Some(e))
        }
    })?;
    let tenant = verified.context;
    let Some(record) = deps.directory.lookup(tenant.clinic_id()).await? else {
        return Ok(deny(&tenant, resource, "unknown_tenant"));
    };
    if record.status != TenantStatus::Active {
        // "suspended", or "changing_tier" while tenant-admin moves the clinic between tiers.
        return Ok(deny(&tenant, resource, record.status.as_str()));
    }
    if record.tier != tenant.tier().as_str() {
        return Ok(deny(&tenant, resource, "tier_mismatch"));
    }
    tracing::info!(tier = %tenant.tier(), clinic_id = %tenant.clinic_id(), user_id = %tenant.user(), "allowed");
    // The same claim names as the token, so request-proxy reads them with the same parser.
    let context = json!({
        CLAIM_SUB: tenant.user().as_str(),
        CLAIM_TIER: tenant.tier().as_str(),
        CLAIM_CLINIC_ID: tenant.clinic_id().as_str(),
        CLAIM_ROLE: tenant.role().as_str(),
    });
    Ok(policy(
        tenant.user().as_str(),
        IamPolicyEffect::Allow,
        resource,
        context,
        Some(record.api_key_value),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_wildcards() {
        assert_eq!(
            stage_wildcard("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/invoke")
                .unwrap(),
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
        );
        for bad in [
            "",
            "arn:aws:s3:::bucket",
            "arn:aws:execute-api:us-east-1:1:abc",
            "arn:aws:execute-api:r:a:/prod/GET/",
        ] {
            assert!(stage_wildcard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            bearer(&json!({"authorizationToken": "Bearer abc"})),
            Some("abc")
        );
        assert_eq!(
            bearer(&json!({"headers": {"authorization": "bearer abc"}})),
            Some("abc")
        );
        assert_eq!(
            bearer(&json!({"headers": {"Authorization": "Basic abc"}})),
            None
        );
        assert_eq!(bearer(&json!({"authorizationToken": "abc"})), None);
        assert_eq!(bearer(&json!({"authorizationToken": "Bearer "})), None);
        assert_eq!(bearer(&json!({})), None);
    }
}
