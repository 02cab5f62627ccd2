//! The page-token signing key: exactly one source, and in deployments an SSM SecureString read
//! at start-up (against moto's SSM, the LOCAL STAND-IN).

use testkit::sdk::moto_config;
use tool_target::config::{
    Config, ConfigError, ENV_PAGE_TOKEN_KEY, ENV_PAGE_TOKEN_KEY_PARAMETER, PageTokenKey,
};

const KEY_B64: &str = "dGVzdC1vbmx5IHBhZ2UgdG9rZW4ga2V5LCAzMisgYnl0ZXMh";

fn config_with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let base = [
        ("TENANTRY_TOKEN_ISSUER", "https://issuer.example"),
        ("TENANTRY_TOKEN_AUDIENCE", "client"),
        ("TENANTRY_JWKS_URL", "http://127.0.0.1:1/jwks.json"),
        ("TENANTRY_CREDENTIALS_SOURCE", "vending-function"),
        ("TENANTRY_TVM_FUNCTION", "tvm"),
        ("TENANTRY_PATIENT_TABLE", "p"),
        ("TENANTRY_CLINIC_TABLE", "c"),
        ("TENANTRY_REGISTRY_TABLE", "r"),
        ("TENANTRY_AUDIT_LOG_GROUP", "/tenantry/audit"),
    ];
    Config::from_lookup(|k| {
        pairs
            .iter()
            .chain(base.iter())
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
}

fn invalid_var(result: Result<Config, ConfigError>) -> &'static str {
    match result {
        Err(ConfigError { var, .. }) => var,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn exactly_one_key_source_is_accepted() {
    assert!(matches!(
        config_with(&[(ENV_PAGE_TOKEN_KEY, KEY_B64)])
            .unwrap()
            .page_token_key,
        PageTokenKey::Inline(_)
    ));
    assert!(matches!(
        config_with(&[(ENV_PAGE_TOKEN_KEY_PARAMETER, "/tenantry/page-token-key")]).unwrap().page_token_key,
        PageTokenKey::Parameter(ref n) if n == "/tenantry/page-token-key"
    ));
    assert_eq!(invalid_var(config_with(&[])), ENV_PAGE_TOKEN_KEY);
    assert_eq!(
        invalid_var(config_with(&[
            (ENV_PAGE_TOKEN_KEY, KEY_B64),
            (ENV_PAGE_TOKEN_KEY_PARAMETER, "/x")
        ])),
        ENV_PAGE_TOKEN_KEY
    );
    assert_eq!(
        invalid_var(config_with(&[(
            ENV_PAGE_TOKEN_KEY_PARAMETER,
            "no-leading-slash"
        )])),
        ENV_PAGE_TOKEN_KEY_PARAMETER
    );
}

fn unique(name: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("/tenantry-test/{n:x}/{name}")
}

#[tokio::test]
async fn secure_string_parameter_is_read_and_decrypted() {
    let ssm = aws_sdk_ssm::Client::new(&moto_config(&testkit::endpoints_or_panic()));
    let name = unique("page-token-key");
    ssm.put_parameter()
        .name(&name)
        .value(KEY_B64)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("put parameter");
    let tokens = PageTokenKey::Parameter(name)
        .resolve(&ssm)
        .await
        .expect("resolves");
    // The key read from SSM signs exactly like the same key given inline.
    let inline = tool_target::page_token::PageTokens::from_base64(KEY_B64).unwrap();
    let clinic = tenant_context::ClinicId::parse("clinic-a").unwrap();
    let sealed = tokens.seal(&clinic, "p-001");
    assert_eq!(inline.open(&sealed, &clinic).unwrap(), "p-001");
}

#[tokio::test]
async fn missing_plain_or_malformed_parameters_fail_start_up_clearly() {
    let ssm = aws_sdk_ssm::Client::new(&moto_config(&testkit::endpoints_or_panic()));
    let reason = |r: Result<_, ConfigError>| match r {
        Err(ConfigError { var, reason }) => {
            assert_eq!(var, ENV_PAGE_TOKEN_KEY_PARAMETER);
            reason
        }
        Ok(_) => panic!("a bad parameter was accepted"),
    };

    let missing = unique("missing");
    let r = reason(PageTokenKey::Parameter(missing.clone()).resolve(&ssm).await);
    assert!(r.contains(&missing) && r.contains("deploy.sh"), "{r}");

    let plain = unique("plain");
    ssm.put_parameter()
        .name(&plain)
        .value(KEY_B64)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put");
    let r = reason(PageTokenKey::Parameter(plain).resolve(&ssm).await);
    assert!(r.contains("SecureString"), "{r}");

    let garbage = unique("garbage");
    ssm.put_parameter()
        .name(&garbage)
        .value("not base64 at all!")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("put");
    let r = reason(PageTokenKey::Parameter(garbage).resolve(&ssm).await);
    assert!(r.contains("base64"), "{r}");
}
