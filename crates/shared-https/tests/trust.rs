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
