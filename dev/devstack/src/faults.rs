//! Fault injection for the local stack: with `Options::faults`, every service the system
//! depends on is reached through a LOCAL fault proxy (`emulators::fault_proxy`) that a test can
//! take down, slow down and bring back while traffic flows. Without it, clients are given the
//! services' own addresses and nothing sits in between.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use emulators::fault_proxy::{Fault, FaultProxy};

use crate::StackError;

/// A dependency that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// STS on the moto stand-in, as the token vending deployments call it.
    Sts,
    /// DynamoDB (dynalite): the clinics' data and the tenant registry.
    DynamoDb,
    /// The user pool's signing keys (moto), as every verifier fetches them.
    Jwks,
    /// The AgentCore Memory emulation, as the agents call it.
    Memory,
    /// The Knowledge Base emulation, as the tool target calls it.
    KnowledgeBase,
    /// The model stand-in (or your model server), as the agents call it.
    Model,
    /// The AgentCore Gateway emulations (every tier's), as the agents call them.
    Gateway,
    /// CloudWatch Logs on the moto stand-in: the PHI access audit trail, as tool-target, the
    /// agents and request-proxy reach it.
    AuditLog,
}

impl Service {
    pub const ALL: [Service; 8] = [
        Service::Sts,
        Service::DynamoDb,
        Service::Jwks,
        Service::Memory,
        Service::KnowledgeBase,
        Service::Model,
        Service::Gateway,
        Service::AuditLog,
    ];
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Sts => "STS",
            Service::DynamoDb => "DynamoDB",
            Service::Jwks => "JWKS",
            Service::Memory => "Memory",
            Service::KnowledgeBase => "Knowledge Base",
            Service::Model => "model",
            Service::Gateway => "Gateway",
            Service::AuditLog => "audit trail (CloudWatch Logs)",
        })
    }
}

/// The stack's fault proxies (none when fault injection is off).
pub struct Faults {
    enabled: bool,
    proxies: Mutex<Vec<(Service, String, Arc<FaultProxy>)>>,
}

impl Faults {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            proxies: Mutex::new(Vec::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The URL clients of `service` at `url` are given: `url` itself, or (with fault
    /// injection) the same URL through the service's proxy for that upstream.
    pub async fn route(&self, service: Service, url: &str) -> Result<String, StackError> {
        if !self.enabled {
            return Ok(url.to_owned());
        }
        let authority = |u: &str| {
            u.strip_prefix("http://")
                .and_then(|r| r.split('/').next())
                .unwrap_or(u)
                .to_owned()
        };
        let upstream = authority(url);
        if let Some((_, _, p)) = self
            .lock()
            .iter()
            .find(|(s, a, _)| *s == service && *a == upstream)
        {
            return Ok(p.rewrite(url));
        }
        let proxy = FaultProxy::start(url).await?;
        let routed = proxy.rewrite(url);
        self.lock().push((service, upstream, Arc::new(proxy)));
        Ok(routed)
    }

    /// From now on `service` has `fault` (`Fault::None`: back up).
    pub async fn set(&self, service: Service, fault: Fault) -> Result<(), StackError> {
        // Cloned out, so no lock is held across an await.
        let mine: Vec<Arc<FaultProxy>> = self
            .lock()
            .iter()
            .filter(|(s, _, _)| *s == service)
            .map(|(_, _, p)| p.clone())
            .collect();
        if mine.is_empty() {
            return Err(StackError::Setup {
                what: format!(
                    "no fault proxy in front of {service}: start the stack with fault injection on"
                ),
            });
        }
        for p in mine {
            p.set(fault).await?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Service, String, Arc<FaultProxy>)>> {
        self.proxies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
