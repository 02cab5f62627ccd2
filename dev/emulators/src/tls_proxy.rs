//! A LOCAL TLS front for a plain-HTTP stand-in (dynalite, moto), with a TEST-ONLY certificate
//! (`fixtures/tls`), that counts the TCP connections it accepts. On AWS every endpoint is TLS
//! and a new connection costs a full handshake; the stand-ins speak plain HTTP, so without this
//! a test cannot see how many connections a function opens.
//!
//! Each accepted connection is decrypted and its bytes copied to the upstream as they are.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};

use testkit::Error;

/// The TEST-ONLY certificate the proxy presents (self-signed, for 127.0.0.1 and localhost):
/// trust it in the client under test, nowhere else.
pub const TEST_CERTIFICATE_PEM: &[u8] = include_bytes!("../fixtures/tls/localhost.crt");
const TEST_KEY_PEM: &[u8] = include_bytes!("../fixtures/tls/localhost.key");

/// The running proxy; dropping it stops it.
pub struct TlsProxy {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    _server: crate::ServerTask,
}

impl TlsProxy {
    /// A TLS listener on 127.0.0.1 (a free port) in front of `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Result<Self, Error> {
        let config = server_config()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(Error::call("bind the TLS proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::call("read the TLS proxy's address"))?;
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let upstream = upstream.to_owned();
        let server = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                // Without TCP_NODELAY a request written in parts (headers, then body) waits for
                // the peer's delayed ACK (about 40 ms on Linux) at each hop.
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = plain.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Ok(Self {
            addr,
            connections,
            _server: crate::ServerTask(server),
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// TCP connections accepted so far (each one a full TLS handshake).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn server_config() -> Result<rustls::ServerConfig, Error> {
    let bad =
        |what: &str, e: &dyn std::fmt::Display| Error::Config(format!("TLS proxy {what}: {e}"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(TEST_CERTIFICATE_PEM)
        .collect::<Result<_, _>>()
        .map_err(|e| bad("certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(TEST_KEY_PEM).map_err(|e| bad("key", &e))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad("protocols", &e))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| bad("certificate", &e))
}
