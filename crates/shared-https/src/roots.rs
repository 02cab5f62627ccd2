//! The trusted root certificates, as each TLS client of the process takes them.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("root certificates: {0}")]
    Pem(String),
}

/// Root certificates every one of which a TLS client can use as a trust anchor.
#[derive(Debug)]
pub struct Roots {
    certs: Vec<CertificateDer<'static>>,
}

static PLATFORM_READS: AtomicUsize = AtomicUsize::new(0);

static PLATFORM: LazyLock<Roots> = LazyLock::new(|| {
    PLATFORM_READS.fetch_add(1, Ordering::Relaxed);
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "a root certificate could not be read");
    }
    let roots = Roots::from_certs(found.certs);
    if roots.is_empty() {
        // Fail closed: no roots means every TLS connection is refused, never unverified.
        tracing::warn!("no root certificates found: every TLS connection will be refused");
    }
    roots
});

/// The platform's root certificates, read on first use and then shared by the process.
pub fn roots() -> &'static Roots {
    &PLATFORM
}

/// How many times this process has read the platform's certificate store (at most once).
pub fn platform_reads() -> usize {
    PLATFORM_READS.load(Ordering::Relaxed)
}

impl Roots {
    /// The certificates of a PEM bundle (a private CA, a test certificate).
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Pem(e.to_string()))?;
        let roots = Self::from_certs(certs);
        if roots.is_empty() {
            return Err(Error::Pem("no usable certificate in the bundle".into()));
        }
        Ok(roots)
    }

    /// Keeps each certificate once, and only those rustls accepts as a trust anchor: the SDK
    /// panics on a trust-store certificate it cannot parse and reqwest refuses to build, while
    /// a platform store may hold one that does not parse (rustls itself skips those).
    fn from_certs(mut certs: Vec<CertificateDer<'static>>) -> Self {
        certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
        certs.dedup();
        certs.retain(|c| {
            rustls::RootCertStore::empty()
                .add(c.clone())
                .inspect_err(|e| tracing::debug!(error = %e, "a root certificate is skipped"))
                .is_ok()
        });
        Self { certs }
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// The certificates in PEM, for clients that take nothing else (the AWS SDK's trust
    /// store). Written here: rustls-pki-types reads PEM but does not write it.
    pub fn pem(&self) -> Vec<u8> {
        let mut out = String::new();
        for cert in &self.certs {
            out.push_str("-----BEGIN CERTIFICATE-----\n");
            let encoded = base64::engine::general_purpose::STANDARD.encode(cert);
            for line in encoded.as_bytes().chunks(64) {
                // base64 output is ASCII, so any split of it is valid UTF-8.
                out.push_str(std::str::from_utf8(line).unwrap_or_default());
                out.push('\n');
            }
            out.push_str("-----END CERTIFICATE-----\n");
        }
        out.into_bytes()
    }

    /// A reqwest client builder that trusts these roots and nothing else (no second read
    /// of the platform's store).
    #[cfg(feature = "reqwest")]
    pub fn reqwest_builder(&self) -> reqwest::ClientBuilder {
        let certs = self
            .certs
            .iter()
            // Every certificate here parsed as a trust anchor, so none is dropped.
            .filter_map(|c| reqwest::Certificate::from_der(c).ok());
        reqwest::Client::builder().tls_certs_only(certs)
    }
}
