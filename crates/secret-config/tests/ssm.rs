//! Reading deployment values from SSM (the moto stand-in): a parameter that does not exist is
//! `None` for values a process may start without, and an error naming the fix for the others.

use secret_config::{SecretSource, SecretVars};

const KEY: SecretVars = SecretVars {
    inline: "K",
    parameter: "K_PARAMETER",
    secure: true,
    required: true,
};
const ID: SecretVars = SecretVars {
    inline: "I",
    parameter: "I_PARAMETER",
    secure: false,
    required: false,
};

fn ssm() -> aws_sdk_ssm::Client {
    let endpoints = testkit::endpoints_or_panic();
    aws_sdk_ssm::Client::new(&testkit::sdk::moto_config(&endpoints))
}

fn unique(name: &str) -> String {
    format!("/secret-config-test/{name}-{}", std::process::id())
}

#[tokio::test]
async fn a_missing_parameter_is_none_where_allowed_and_an_error_otherwise() {
    let ssm = ssm();
    let missing = unique("missing");
    let absent = ID
        .resolve_if_present(SecretSource::Parameter(missing.clone()), &ssm)
        .await;
    assert_eq!(absent, Ok(None));
    let err = KEY
        .resolve(SecretSource::Parameter(missing.clone()), &ssm)
        .await
        .unwrap_err();
    assert!(err.reason.contains("does not exist"), "{err}");
    assert!(err.reason.contains(&missing), "{err}");
}

#[tokio::test]
async fn a_present_parameter_is_read_and_a_plain_string_is_no_key() {
    let ssm = ssm();
    let name = unique("id");
    ssm.put_parameter()
        .name(&name)
        .value("proj_abc")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ID.resolve_if_present(SecretSource::Parameter(name.clone()), &ssm)
            .await,
        Ok(Some("proj_abc".into()))
    );
    // A key must be a SecureString: a plain String is refused, not used.
    assert!(
        KEY.resolve(SecretSource::Parameter(name), &ssm)
            .await
            .unwrap_err()
            .reason
            .contains("SecureString")
    );
}
