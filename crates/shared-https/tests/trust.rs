//! Clients built from a set of roots trust those roots and no others.

mod support;

use emulators::tls_proxy::TEST_CERTIFICATE_PEM;
use shared_https::Roots;
use support::{UNRELATED, reqwest_reaches, sdk_reaches, sdk_trusting, sts, tls_standin};

#[tokio::test]
async fn reqwest_and_the_sdk_trust_the_roots_they_are_given_and_no_others() {
    let (proxy, _upstream) = tls_standin().await;
    let trusted = Roots::from_pem(TEST_CERTIFICATE_PEM).expect("test certificate");
    let unrelated = Roots::from_pem(UNRELATED).expect("unrelated certificate");

    let http = |roots: &Roots| roots.reqwest_builder().build().expect("client");
    assert!(reqwest_reaches(&http(&trusted), &proxy.url()).await);
    assert!(
        !reqwest_reaches(&http(&unrelated), &proxy.url()).await,
        "reqwest connected to a server its roots do not vouch for"
    );

    assert!(sdk_reaches(&sts(&sdk_trusting(&trusted), &proxy.url())).await);
    assert!(
        !sdk_reaches(&sts(&sdk_trusting(&unrelated), &proxy.url())).await,
        "the SDK connected to a server its roots do not vouch for"
    );
}

#[test]
fn pem_written_here_reads_back_as_the_same_certificates() {
    let roots = Roots::from_pem(TEST_CERTIFICATE_PEM).expect("test certificate");
    assert_eq!(roots.len(), 1);
    let back = Roots::from_pem(&roots.pem()).expect("our PEM");
    assert_eq!(back.certs(), roots.certs());
}

#[test]
fn duplicates_are_kept_once_and_a_bundle_without_certificates_is_refused() {
    let twice = [TEST_CERTIFICATE_PEM, TEST_CERTIFICATE_PEM].concat();
    assert_eq!(Roots::from_pem(&twice).expect("bundle").len(), 1);
    assert!(Roots::from_pem(b"").is_err());
    let not_a_certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert!(Roots::from_pem(not_a_certificate.as_bytes()).is_err());
}
