//! A TLS stand-in presenting the TEST-ONLY certificate in front of an STS-shaped responder.

use emulators::tls_proxy::TlsProxy;
use shared_https::Roots;

/// Trusted where a client must NOT reach the TLS stand-in (see fixtures/README.md).
pub const UNRELATED: &[u8] = include_bytes!("../fixtures/unrelated.crt");

const CALLER_IDENTITY: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/test</Arn><UserId>AIDATEST</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#;

/// The stand-in (keep both alive for the test).
pub async fn tls_standin() -> (TlsProxy, emulators::ServerTask) {
    let app = axum::Router::new()
        .fallback(|| async { ([("content-type", "text/xml")], CALLER_IDENTITY) });
    let (addr, server) = emulators::serve_local(app, 0).await.expect("upstream");
    let proxy = TlsProxy::start(&addr.to_string())
        .await
        .expect("TLS stand-in");
    (proxy, server)
}

/// An STS client on `config`'s HTTP client, sent to `url`, failing at once (no retries).
pub fn sts(config: &aws_config::SdkConfig, url: &str) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::config::Builder::from(config)
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// An SDK configuration whose one HTTP client trusts `roots`.
pub fn sdk_trusting(roots: &Roots) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .http_client(shared_https::sdk::http_client(roots))
        .build()
}

/// Whether the SDK client reached the stand-in (false: refused before any HTTP, as a TLS
/// failure is).
pub async fn sdk_reaches(client: &aws_sdk_sts::Client) -> bool {
    match client.get_caller_identity().send().await {
        Ok(who) => who.account() == Some("123456789012"),
        Err(aws_sdk_sts::error::SdkError::DispatchFailure(_)) => false,
        Err(e) => panic!("neither an answer nor a refused connection: {e:?}"),
    }
}

/// Whether a reqwest client reached the stand-in.
pub async fn reqwest_reaches(client: &reqwest::Client, url: &str) -> bool {
    match client.get(url).send().await {
        Ok(r) => r.status() == 200,
        Err(_) => false,
    }
}
