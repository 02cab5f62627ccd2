//! The environments the template gives every function and agent runtime are read by the
//! binaries' own configuration code: a renamed variable fails here, not at the first cold
//! start in AWS. CloudFormation intrinsics are replaced by values of the right form.

use serde_json::{Map, Value};
use tenant_context::TierCatalog;

const TEMPLATE: &str = include_str!("../../../infra/template.json");

/// A deploy-time value for an intrinsic: a parameter's default, an ARN for `...Arn`
/// attributes, an id of the right form for knowledge base ids, a URL otherwise.
fn resolve(t: &Value, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => {
            if let Some(Value::String(name)) = m.get("Ref") {
                if let Some(default) = t["Parameters"][name]["Default"].as_str() {
                    return default.to_owned();
                }
                return format!("{name}-id");
            }
            match m.get("Fn::GetAtt").and_then(|a| a[1].as_str()) {
                Some(att) if att.ends_with("Arn") => {
                    return "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/tenantry_x-AAAA"
                        .into();
                }
                // Knowledge base ids are 10 letters and digits.
                Some("KnowledgeBaseId") => return "KB12345678".into(),
                _ => {}
            }
            "https://placeholder.example/path".into()
        }
        other => other.to_string(),
    }
}

fn environment(t: &Value, resource: &str, key: &str) -> Map<String, Value> {
    t["Resources"][resource]["Properties"][key]
        .as_object()
        .map(|e| {
            e.get("Variables")
                .and_then(Value::as_object)
                .unwrap_or(e)
                .clone()
        })
        .unwrap_or_else(|| panic!("{resource} has no {key}"))
}

fn lookup(t: &Value, env: Map<String, Value>) -> impl Fn(&str) -> Option<String> {
    let t = t.clone();
    move |k: &str| env.get(k).map(|v| resolve(&t, v))
}

#[test]
fn every_agent_runtime_starts_with_its_template_environment() {
    let t: Value = serde_json::from_str(TEMPLATE).unwrap();
    let catalog = TierCatalog::embedded().unwrap();
    let mut seen = 0;
    for (id, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::BedrockAgentCore::Runtime" {
            continue;
        }
        let env = environment(&t, id, "EnvironmentVariables");
        let config = agent_runtime::Config::from_lookup(lookup(&t, env.clone()), &catalog)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        // Deployed, the secrets are SSM parameters, never values in the environment.
        assert_eq!(
            config.session_key,
            secret_config::SecretSource::Parameter("/tenantry/session-key".into()),
            "{id}"
        );
        assert!(!env.contains_key(agent_runtime::config::SESSION_KEY_VARS.inline));
        assert!(config.project.is_some(), "{id}: the tier's Bedrock project");
        assert!(
            config.guardrail.is_some(),
            "{id}: the tier file gives it a guardrail"
        );
        let memory = config
            .memory
            .unwrap_or_else(|| panic!("{id}: no memory configured"));
        assert!(matches!(
            memory.credentials,
            scoped_credentials::IssuerConfig::VendingFunction { .. }
        ));
        seen += 1;
    }
    assert_eq!(seen, catalog.iter().count());
}

#[test]
fn request_proxy_starts_with_its_template_environment() {
    let t: Value = serde_json::from_str(TEMPLATE).unwrap();
    let env = environment(&t, "RequestProxyFunction", "Environment");
    let config = request_proxy::Config::from_lookup(
        lookup(&t, env.clone()),
        &TierCatalog::embedded().unwrap(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.session_key,
        secret_config::SecretSource::Parameter("/tenantry/session-key".into())
    );
    assert!(!env.contains_key(request_proxy::config::SESSION_KEY_VARS.inline));
}

/// Both token-vending deployments start with their template environment, each allowing only its
/// callers' scopes.
#[test]
fn each_token_vending_deployment_starts_with_its_template_environment() {
    use scoped_credentials::Scope;
    let t: Value = serde_json::from_str(TEMPLATE).unwrap();
    for (function, scopes) in [
        ("TokenVendingFunction", vec![Scope::Data, Scope::Documents]),
        ("MemoryVendingFunction", vec![Scope::Memory]),
    ] {
        let env = environment(&t, function, "Environment");
        let config = token_vending::Config::from_lookup(lookup(&t, env))
            .unwrap_or_else(|e| panic!("{function}: {e}"));
        for scope in [Scope::Data, Scope::Documents, Scope::Memory] {
            assert_eq!(
                config.allowed_scopes.allows(scope),
                scopes.contains(&scope),
                "{function}: {scope}"
            );
        }
    }
}

/// tool-target, tenant-authorizer and pre-token start with their template environments.
#[test]
fn the_other_functions_start_with_their_template_environments() {
    let t: Value = serde_json::from_str(TEMPLATE).unwrap();
    let tool_target = tool_target::config::Config::from_lookup(lookup(
        &t,
        environment(&t, "ToolTargetFunction", "Environment"),
    ))
    .unwrap_or_else(|e| panic!("tool-target: {e}"));
    assert!(matches!(
        tool_target.credentials,
        scoped_credentials::IssuerConfig::VendingFunction { .. }
    ));
    tenant_authorizer::config::Config::from_lookup(lookup(
        &t,
        environment(&t, "TenantAuthorizerFunction", "Environment"),
    ))
    .unwrap_or_else(|e| panic!("tenant-authorizer: {e}"));
    pre_token::Config::from_lookup(lookup(
        &t,
        environment(&t, "PreTokenFunction", "Environment"),
    ))
    .unwrap_or_else(|e| panic!("pre-token: {e}"));
}
