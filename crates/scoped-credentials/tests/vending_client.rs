//! `VendingFunctionIssuer` against a mock of the Lambda Invoke API on 127.0.0.1 (a stand-in:
//! the replies are shaped as the service documents them, plus the local emulator's variant).

use scoped_credentials::wire::{VendResponse, WireCredentials, WireTag, WireTenant};
use scoped_credentials::{Error, IssueRequest, Scope, VendingFunctionIssuer};
use serde_json::json;
use tenant_context::{TenantContext, TierCatalog};
use testkit::sdk::config_for;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INVOKE_PATH: &str = "/2015-03-31/functions/token-vending/invocations";

fn tenant(clinic: &str) -> TenantContext {
    let catalog = TierCatalog::embedded().unwrap();
    TenantContext::parse(
        &catalog,
        "basic",
        clinic,
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "clinician",
    )
    .unwrap()
}

fn reply_for(t: &TenantContext) -> VendResponse {
    VendResponse {
        credentials: WireCredentials {
            access_key_id: "ASIALOCALSTANDIN".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expiration_epoch_seconds: 4_102_444_800,
        },
        tenant: WireTenant::of(t),
        role_session_name: t.role_session_name(),
        session_tags: t
            .session_tags()
            .iter()
            .map(|(k, v)| WireTag {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
    }
}

async fn issuer_with(response: ResponseTemplate) -> (MockServer, VendingFunctionIssuer) {
    let server = MockServer::builder().start().await;
    Mock::given(method("POST"))
        .and(path(INVOKE_PATH))
        .respond_with(response)
        .mount(&server)
        .await;
    let lambda = aws_sdk_lambda::Client::new(&config_for(&server.uri()));
    (server, VendingFunctionIssuer::new(lambda, "token-vending"))
}

fn req<'a>(t: &'a TenantContext) -> IssueRequest<'a> {
    IssueRequest {
        id_token: "header.payload.signature",
        tenant: t,
        scope: Scope::Memory,
    }
}

#[tokio::test]
async fn sends_the_token_and_scope_and_reads_the_credentials() {
    let t = tenant("clinic-a");
    let server = MockServer::builder().start().await;
    Mock::given(method("POST"))
        .and(path(INVOKE_PATH))
        .and(body_json(
            json!({"id_token": "header.payload.signature", "scope": "memory"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply_for(&t)))
        .expect(1)
        .mount(&server)
        .await;
    let issuer = VendingFunctionIssuer::new(
        aws_sdk_lambda::Client::new(&config_for(&server.uri())),
        "token-vending",
    );
    let c = issuer.vend(req(&t)).await.expect("credentials");
    assert_eq!(c.access_key_id, "ASIALOCALSTANDIN");
    assert_eq!(c.tenant, t);
}

#[tokio::test]
async fn a_reply_for_another_tenant_is_refused() {
    let (_s, issuer) =
        issuer_with(ResponseTemplate::new(200).set_body_json(reply_for(&tenant("clinic-b")))).await;
    let err = issuer.vend(req(&tenant("clinic-a"))).await.unwrap_err();
    assert!(matches!(err, Error::TenantMismatch), "{err:?}");
}

#[tokio::test]
async fn a_reply_with_an_empty_part_gives_no_credentials() {
    let t = tenant("clinic-a");
    let mut reply = reply_for(&t);
    reply.credentials.session_token.clear();
    let (_s, issuer) = issuer_with(ResponseTemplate::new(200).set_body_json(reply)).await;
    assert!(matches!(
        issuer.vend(req(&t)).await,
        Err(Error::Incomplete("session_token"))
    ));
}

#[tokio::test]
async fn a_function_error_is_typed_as_the_service_reports_it() {
    let body = json!({"errorType": "Unauthorized.token_expired", "errorMessage": "unauthorized: token has expired"});
    let (_s, issuer) = issuer_with(
        ResponseTemplate::new(200)
            .insert_header("X-Amz-Function-Error", "Unhandled")
            .set_body_json(body),
    )
    .await;
    match issuer.vend(req(&tenant("clinic-a"))).await {
        Err(e @ Error::Vending { .. }) => {
            assert!(!e.is_retryable());
            assert!(e.to_string().contains("Unauthorized.token_expired"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_retryable_function_error_stays_retryable_also_in_the_emulators_shape() {
    // cargo-lambda's emulator: HTTP 500 with the error body, no X-Amz-Function-Error.
    let body = json!({"errorType": "Retryable.sts_failed", "errorMessage": "credentials: STS AssumeRole failed"});
    let (_s, issuer) = issuer_with(ResponseTemplate::new(500).set_body_json(body)).await;
    let err = issuer.vend(req(&tenant("clinic-a"))).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Vending {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_reply_that_is_not_a_vend_response_is_an_error() {
    let (_s, issuer) =
        issuer_with(ResponseTemplate::new(200).set_body_json(json!({"hello": "world"}))).await;
    assert!(matches!(
        issuer.vend(req(&tenant("clinic-a"))).await,
        Err(Error::VendingReply(_))
    ));
}
