//! The platform's certificate store is read once per process, and no client reads it again:
//! with the TLS stand-in's certificate as the platform's only root (`SSL_CERT_FILE`), a client
//! given other roots must not connect (it would if it had read the platform's store itself).
//!
//! The only test of its binary: it sets the process's environment.

mod support;

use emulators::tls_proxy::TEST_CERTIFICATE_PEM;
use shared_https::Roots;
use support::{UNRELATED, reqwest_reaches, sdk_reaches, sdk_trusting, sts, tls_standin};

#[tokio::test(flavor = "current_thread")]
async fn the_platform_store_is_read_once_and_clients_read_it_not_again() {
    let file = std::env::temp_dir().join(format!("shared-https-roots-{}.pem", std::process::id()));
    std::fs::write(&file, TEST_CERTIFICATE_PEM).expect("write the roots");
    // SAFETY: the only test of this binary, on a current-thread runtime: no other thread of
    // the process reads the environment while it changes.
    unsafe {
        std::env::set_var("SSL_CERT_FILE", &file);
        std::env::remove_var("SSL_CERT_DIR");
    }
    let (proxy, _upstream) = tls_standin().await;
    let url = proxy.url();

    let platform = shared_https::roots();
    assert_eq!(
        platform.len(),
        1,
        "the platform's store is the test certificate"
    );
    for _ in 0..3 {
        let http = shared_https::roots()
            .reqwest_builder()
            .build()
            .expect("client");
        assert!(reqwest_reaches(&http, &url).await);
    }
    let process_sdk = shared_https::sdk::load().await;
    assert!(sdk_reaches(&sts(&process_sdk, &url)).await);

    // Given other roots, neither client falls back to the platform's store.
    let unrelated = Roots::from_pem(UNRELATED).expect("unrelated certificate");
    let http = unrelated.reqwest_builder().build().expect("client");
    assert!(
        !reqwest_reaches(&http, &url).await,
        "reqwest trusted the platform's store besides the roots it was given"
    );
    assert!(
        !sdk_reaches(&sts(&sdk_trusting(&unrelated), &url)).await,
        "the SDK trusted the platform's store besides the roots it was given"
    );

    assert_eq!(shared_https::platform_reads(), 1);
    let _ = std::fs::remove_file(file);
}
