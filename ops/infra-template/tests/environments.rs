//! The environments the template gives every function and agent runtime are read by the
//! binaries' own configuration code: a renamed variable fails here, not at the first cold
//! start in AWS. CloudFormation intrinsics are replaced by values of the right form.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tenant_context::TierCatalog;

const TEMPLATE: &str = include_str!("../../../infra/template.json");

/// A deploy-time value for an intrinsic: a parameter's default, an ARN for `...Arn`
/// attributes and for the Ref of a topic, an id of the right form for knowledge base ids, a
/// URL otherwise.
fn resolve(t: &Value, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => {
            if let Some(Value::String(name)) = m.get("Ref") {
                if let Some(default) = t["Parameters"][name]["Default"].as_str() {
                    return default.to_owned();
                }
                // Ref of an SNS topic is its ARN (CloudFormation's return values).
                if t["Resources"][name]["Type"] == "AWS::SNS::Topic" {
                    return format!("arn:aws:sns:us-east-1:123456789012:{name}");
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
        ("TokenVendingFunction", vec![Scope::Data]),
        ("MemoryVendingFunction", vec![Scope::Memory]),
    ] {
        let env = environment(&t, function, "Environment");
        let config = token_vending::Config::from_lookup(lookup(&t, env))
            .unwrap_or_else(|e| panic!("{function}: {e}"));
        for scope in [Scope::Data, Scope::Memory] {
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

/// The variables each binary asks for when it starts with the template's environment.
fn asked_by_each_binary() -> Vec<(&'static str, BTreeSet<String>)> {
    let t: Value = serde_json::from_str(TEMPLATE).unwrap();
    let catalog = TierCatalog::embedded().unwrap();
    let recording = |resource: &str, key: &str| {
        let asked = Arc::new(Mutex::new(BTreeSet::new()));
        let seen = asked.clone();
        let get = lookup(&t, environment(&t, resource, key));
        let record = move |k: &str| {
            seen.lock().unwrap().insert(k.to_owned());
            get(k)
        };
        (asked, record)
    };
    let taken = |a: Arc<Mutex<BTreeSet<String>>>| a.lock().unwrap().clone();
    let mut out = Vec::new();
    let (a, get) = recording("TokenVendingFunction", "Environment");
    token_vending::Config::from_lookup(get).unwrap();
    out.push(("token-vending", taken(a)));
    let (a, get) = recording("ToolTargetFunction", "Environment");
    tool_target::config::Config::from_lookup(get).unwrap();
    out.push(("tool-target", taken(a)));
    let (a, get) = recording("TenantAuthorizerFunction", "Environment");
    tenant_authorizer::config::Config::from_lookup(get).unwrap();
    out.push(("tenant-authorizer", taken(a)));
    let (a, get) = recording("RequestProxyFunction", "Environment");
    request_proxy::Config::from_lookup(get, &catalog).unwrap();
    out.push(("request-proxy", taken(a)));
    let (a, get) = recording("PreTokenFunction", "Environment");
    pre_token::Config::from_lookup(get).unwrap();
    out.push(("pre-token", taken(a)));
    let (a, get) = recording("BasicAgentRuntime", "EnvironmentVariables");
    agent_runtime::Config::from_lookup(&get, &catalog).unwrap();
    telemetry::traces::TraceExport::from_lookup(&get).unwrap();
    out.push(("agent-runtime", taken(a)));
    out
}

/// `docs/configuration.md`'s table of each binary: the variable names of its first column.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in CONFIGURATION_DOC.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.trim().to_owned();
            continue;
        }
        let Some(first) = line.strip_prefix("| ").and_then(|l| l.split(" | ").next()) else {
            continue;
        };
        for (i, part) in first.split('`').enumerate() {
            let is_name = i % 2 == 1
                && part
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_<>".contains(c));
            if is_name && !part.is_empty() {
                out.entry(section.clone())
                    .or_default()
                    .insert(part.to_owned());
            }
        }
    }
    out
}

/// Whether a documented name covers `var` (`TENANTRY_RUNTIME_ARN_<TIER>` covers every tier's).
fn covers(documented: &str, var: &str) -> bool {
    match documented.strip_suffix("<TIER>") {
        Some(prefix) => var.starts_with(prefix),
        None => documented == var,
    }
}

const CONFIGURATION_DOC: &str = include_str!("../../../docs/configuration.md");

/// The crates whose code reads a binary's configuration: its own and the shared ones.
fn sources(binary: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut text = String::new();
    for krate in [
        binary,
        "tenant-context",
        "scoped-credentials",
        "secret-config",
        "env-config",
        "telemetry",
        "usage-meter",
        "tenant-registry",
        "audit-trail",
    ] {
        let mut dirs = vec![root.join("crates").join(krate).join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    text.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
    }
    text
}

#[test]
fn docs_configuration_lists_what_each_binary_reads() {
    let docs = documented();
    for (binary, asked) in asked_by_each_binary() {
        let table = docs
            .get(binary)
            .unwrap_or_else(|| panic!("docs/configuration.md has no section `## {binary}`"));
        for var in &asked {
            assert!(
                table.iter().any(|d| covers(d, var)),
                "{binary} reads {var}, which docs/configuration.md does not list"
            );
        }
        let code = sources(binary);
        for name in table {
            let needle = name.strip_suffix("<TIER>").unwrap_or(name);
            assert!(
                code.contains(&format!("\"{needle}")),
                "docs/configuration.md lists {name} for {binary}, which its code never names"
            );
        }
    }
}
