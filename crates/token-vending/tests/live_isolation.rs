//! OPT-IN LIVE AWS TEST: the only proof of the IAM layer (the local stand-ins evaluate no IAM).
//! Ignored by default. Against a deployed stack, with AWS credentials allowed to invoke the
//! token-vending function:
//!
//!   TENANTRY_LIVE_TVM_FUNCTION=<function name or ARN> \
//!   TENANTRY_LIVE_ID_TOKEN=<a Cognito ID token of a user of tenant A> \
//!   TENANTRY_LIVE_PATIENT_TABLE=<PatientMetadata table name> \
//!   TENANTRY_LIVE_OTHER_CLINIC_ID=<tenant B's clinic id> \
//!   cargo test -p token-vending --test live_isolation -- --ignored
//!
//! Tenant A's vended credentials must read A's partition and get AccessDenied on B's partition
//! and on any Scan.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::primitives::Blob;
use scoped_credentials::Scope;
use scoped_credentials::wire::{VendRequest, VendResponse};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} must be set for the live isolation test (see the file's header)")
    })
}

fn access_denied<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("AccessDeniedException")
}

#[tokio::test]
#[ignore = "live AWS: set the TENANTRY_LIVE_* variables and run with --ignored"]
async fn tenant_a_credentials_cannot_read_tenant_b() {
    let (function, id_token) = (
        env("TENANTRY_LIVE_TVM_FUNCTION"),
        env("TENANTRY_LIVE_ID_TOKEN"),
    );
    let (table, other_clinic) = (
        env("TENANTRY_LIVE_PATIENT_TABLE"),
        env("TENANTRY_LIVE_OTHER_CLINIC_ID"),
    );
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;

    let payload = serde_json::to_vec(&VendRequest {
        id_token,
        scope: Scope::Data,
    })
    .unwrap();
    let out = aws_sdk_lambda::Client::new(&sdk)
        .invoke()
        .function_name(&function)
        .payload(Blob::new(payload))
        .send()
        .await
        .expect("invoke the token-vending function");
    assert!(
        out.function_error().is_none(),
        "vending refused: {:?}",
        out.payload()
    );
    let reply: VendResponse =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("vend response");
    let own_clinic = reply.tenant.clinic_id.clone();
    assert_ne!(
        own_clinic, other_clinic,
        "pick a tenant B other than the token's tenant"
    );

    let creds = aws_sdk_dynamodb::config::Credentials::new(
        &reply.credentials.access_key_id,
        &reply.credentials.secret_access_key,
        Some(reply.credentials.session_token.clone()),
        None,
        "tenantry-live-test",
    );
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .credentials_provider(creds)
            .build(),
    );
    let query = |clinic: String| {
        ddb.query()
            .table_name(&table)
            .key_condition_expression("clinic_id = :c")
            .expression_attribute_values(":c", AttributeValue::S(clinic))
            .limit(1)
            .send()
    };
    query(own_clinic)
        .await
        .expect("tenant A reads its own partition");
    let err = query(other_clinic.clone())
        .await
        .expect_err("tenant A must not query tenant B");
    assert!(
        access_denied(&err.into_service_error()),
        "expected AccessDenied on B's partition"
    );
    let err = ddb
        .get_item()
        .table_name(&table)
        .key("clinic_id", AttributeValue::S(other_clinic))
        .key("patient_id", AttributeValue::S("any".into()))
        .send()
        .await
        .expect_err("tenant A must not read tenant B's item");
    assert!(access_denied(&err.into_service_error()));
    let err = ddb
        .scan()
        .table_name(&table)
        .limit(1)
        .send()
        .await
        .expect_err("Scan is never granted");
    assert!(access_denied(&err.into_service_error()));
}
