//! The CA bundle the image ships: Mozilla's root program as the `webpki-root-certs` crate
//! carries it, at the version and checksum Cargo.lock pins, written as PEM. The image then
//! trusts the same roots wherever it is built, and a change of them is a reviewed change of
//! the lock file, never whatever the build host's `/etc/ssl/certs` holds that day.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The pinned roots as one PEM bundle (what `rustls-native-certs` reads in the image).
pub fn pinned_pem_bundle() -> Vec<u8> {
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let body = STANDARD.encode(cert.as_ref());
        // PEM lines are 64 characters (RFC 7468); the body is ASCII, so bytes are characters.
        for line in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;

    #[test]
    fn the_bundle_is_every_pinned_root_and_reads_back_unchanged() {
        let pem = pinned_pem_bundle();
        let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .expect("valid PEM");
        assert!(
            back.len() > 100,
            "Mozilla's program has well over 100 roots"
        );
        assert_eq!(back.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        for (read, pinned) in back.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS) {
            assert_eq!(read.as_ref(), pinned.as_ref());
        }
        assert_eq!(pem, pinned_pem_bundle(), "the same bytes every build");
    }
}
