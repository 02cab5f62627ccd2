//! A LOCAL TCP proxy that injects faults in front of one stand-in or emulation: the service
//! can be taken down (its port refuses connections and every open connection is cut, as when
//! a process dies), slowed (every chunk a client sends waits before it is passed on, so pooled
//! keep-alive connections are slowed too, not only new ones), held (every chunk waits until
//! released), and brought back on the same port (as a restarted service). The fault tests of
//! the devstack put one in front of STS, DynamoDB, the JWKS, Memory, the Knowledge Base, the
//! model and the Gateways, and check how the system behaves while each is down or slow and
//! after it is back; the agent's admission tests hold its usage table.
//!
//! It works on bytes, not HTTP: nothing is parsed or changed, so it fits any protocol the
//! stand-ins speak (AWS JSON and query protocols, MCP over streamable HTTP, event streams).
//! Written by hand because no maintained crate offers a controllable fault proxy as a library
//! (toxiproxy is a separate Go server).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use testkit::Error;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passes everything on at once.
    None,
    /// The port refuses connections; open connections are cut.
    Down,
    /// Each chunk from a client waits this long before it is passed on.
    Slow(Duration),
    /// Each chunk from a client waits until the fault changes: requests are held, not lost (a
    /// test orders what happens while a service has not answered yet).
    Held,
}

struct Shared {
    upstream: String,
    mode: watch::Sender<Fault>,
    /// Whether the port is open, as the acceptor last left it.
    listening: watch::Sender<bool>,
    /// Connections accepted while the service was up (a `Down` aborts them all).
    connections: Mutex<JoinSet<()>>,
    accepted: std::sync::atomic::AtomicUsize,
}

/// The running proxy; dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.shared
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }
}

impl FaultProxy {
    /// A proxy on 127.0.0.1 (a free port) in front of `upstream` (`http://host:port[/...]`;
    /// only the host and port are used).
    pub async fn start(upstream: &str) -> Result<Self, Error> {
        let authority = upstream
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                Error::Config(format!("fault proxy: {upstream} is not http://host:port"))
            })?
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::call("bind the fault proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::call("read the fault proxy's address"))?;
        let (mode, _) = watch::channel(Fault::None);
        let (listening, _) = watch::channel(true);
        let shared = Arc::new(Shared {
            upstream: authority,
            mode,
            listening,
            connections: Mutex::new(JoinSet::new()),
            accepted: std::sync::atomic::AtomicUsize::new(0),
        });
        let acceptor = tokio::spawn(accept_loop(listener, addr, shared.clone()));
        Ok(Self {
            addr,
            shared,
            acceptor,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `upstream_url` with its scheme, host and port replaced by this proxy's (the path and
    /// query stay): how a client that was given `upstream_url` reaches the service through it.
    pub fn rewrite(&self, upstream_url: &str) -> String {
        let rest = upstream_url
            .strip_prefix("http://")
            .and_then(|r| r.find('/').map(|i| &r[i..]))
            .unwrap_or("");
        format!("{}{rest}", self.url())
    }

    /// The fault from now on, once the port is closed (`Down`) or open again (otherwise:
    /// `Fault::None` after `Down` is the service restarted on the same port).
    pub async fn set(&self, fault: Fault) -> Result<(), Error> {
        let mut listening = self.shared.listening.subscribe();
        self.shared.mode.send_replace(fault);
        if fault == Fault::Down {
            self.shared
                .connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .abort_all();
        }
        let open = fault != Fault::Down;
        tokio::time::timeout(Duration::from_secs(10), listening.wait_for(|l| *l == open))
            .await
            .map(|_| ())
            .map_err(|_| {
                Error::Config(format!(
                    "the fault proxy at {} did not {} its port within 10 s",
                    self.addr,
                    if open { "open" } else { "close" }
                ))
            })
    }

    pub fn fault(&self) -> Fault {
        *self.shared.mode.borrow()
    }

    /// Connections accepted so far (while the service was up).
    pub fn accepted(&self) -> usize {
        self.shared
            .accepted
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Accepts while up; while down the listening socket is closed (clients get "connection
/// refused", as from a stopped process) and bound again on the same port when the fault ends.
async fn accept_loop(listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut modes = shared.mode.subscribe();
    let mut listener = Some(listener);
    loop {
        let down = *modes.borrow_and_update() == Fault::Down;
        match (down, listener.take()) {
            (true, _) => {
                // Closed (dropped); wait until the service is back.
                shared.listening.send_replace(false);
                if modes.changed().await.is_err() {
                    return;
                }
            }
            (false, None) => match rebind(addr).await {
                Some(l) => {
                    listener = Some(l);
                    shared.listening.send_replace(true);
                }
                None => return,
            },
            (false, Some(l)) => {
                tokio::select! {
                    accepted = l.accept() => {
                        if let Ok((client, _)) = accepted {
                            shared.accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let upstream = shared.upstream.clone();
                            let modes = shared.mode.subscribe();
                            let mut set = shared
                                .connections
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner);
                            // Finished connections are reaped here so the set stays small.
                            while set.try_join_next().is_some() {}
                            set.spawn(pipe(client, upstream, modes));
                        }
                        listener = Some(l);
                    }
                    changed = modes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        // Dropping `l` here closes the port when the new mode is `Down`.
                        if *modes.borrow() != Fault::Down {
                            listener = Some(l);
                        }
                    }
                }
            }
        }
    }
}

/// The same port again; a socket of the old listener in TIME_WAIT can delay it briefly.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..200 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tracing::error!(%addr, "the fault proxy could not listen on its port again");
    None
}

async fn pipe(client: TcpStream, upstream: String, modes: watch::Receiver<Fault>) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upward = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let fault = *modes.borrow();
            match fault {
                Fault::Slow(delay) => tokio::time::sleep(delay).await,
                Fault::Held => {
                    let mut released = modes.clone();
                    if released.wait_for(|f| *f != Fault::Held).await.is_err() {
                        break;
                    }
                }
                Fault::None | Fault::Down => {}
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downward = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upward, downward);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let app = axum::Router::new().fallback(|| async { "up" });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (addr, task)
    }

    #[tokio::test]
    async fn down_refuses_slow_delays_and_up_serves_again_on_the_same_port() {
        let (addr, _server) = echo_server().await;
        let proxy = FaultProxy::start(&format!("http://{addr}/ignored"))
            .await
            .unwrap();
        assert_eq!(
            proxy.rewrite("http://127.0.0.1:1/a/b?c=d"),
            format!("{}/a/b?c=d", proxy.url())
        );
        // One pooled client throughout: a fault must reach connections it already holds.
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let get = || http.get(format!("{}/x", proxy.url())).send();
        assert_eq!(get().await.unwrap().text().await.unwrap(), "up");

        proxy.set(Fault::Down).await.unwrap();
        let refused = get().await.unwrap_err();
        assert!(refused.is_connect() || refused.is_request(), "{refused:?}");
        // A fresh connection is refused, as by a stopped process.
        assert!(TcpStream::connect(proxy.addr).await.is_err());

        proxy
            .set(Fault::Slow(Duration::from_millis(300)))
            .await
            .unwrap();
        let began = std::time::Instant::now();
        assert_eq!(get().await.unwrap().text().await.unwrap(), "up");
        assert!(began.elapsed() >= Duration::from_millis(300));
        // The pooled connection is slowed too, not only a new one.
        let began = std::time::Instant::now();
        assert_eq!(get().await.unwrap().text().await.unwrap(), "up");
        assert!(began.elapsed() >= Duration::from_millis(300));

        // Held: nothing comes back until released, then the request goes on.
        proxy.set(Fault::Held).await.unwrap();
        let mut held = Box::pin(get());
        let waited = tokio::time::timeout(Duration::from_millis(300), &mut held).await;
        assert!(waited.is_err(), "a held request was answered");
        proxy.set(Fault::None).await.unwrap();
        assert_eq!(held.await.unwrap().text().await.unwrap(), "up");

        assert_eq!(get().await.unwrap().text().await.unwrap(), "up");
        assert!(proxy.accepted() >= 2);
    }

    #[tokio::test]
    async fn only_http_upstreams_are_taken() {
        assert!(FaultProxy::start("https://127.0.0.1:1").await.is_err());
        assert!(FaultProxy::start("http://").await.is_err());
    }
}
