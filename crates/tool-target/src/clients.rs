//! The tenant's DynamoDB client, kept per ID token for a while instead of built per call.
//!
//! Why: building an SDK client (its configuration layers, runtime plugins and identity cache)
//! cost more than the rest of a warm call's own work. A client is bound to one caller: its
//! credentials provider vends with that caller's token for that caller's tenant, so the cache
//! key is the token itself (its SHA-256): another user, or the same user's next token, never
//! gets this client. Every call still verifies its token first, so an expired or forged token
//! never reaches the cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};

/// Longer than an ID token lives (15 minutes in the template), so one token keeps one client.
pub const KEEP_FOR: Duration = Duration::from_secs(20 * 60);
/// At most this many clients (one per signed-in user, roughly); the oldest go first.
pub const MAX_CLIENTS: usize = 1024;

#[derive(Debug, Default)]
pub struct TenantClients {
    clients: Mutex<HashMap<[u8; 32], (Instant, Client)>>,
}

impl TenantClients {
    /// The client built for `token`, or a new one from `build`, kept for `KEEP_FOR`.
    pub fn get_or_build(&self, token: &str, build: impl FnOnce() -> Client) -> Client {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        // A poisoned lock only means another call panicked mid-insert; the map is still a map.
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((built, client)) = clients.get(&key)
            && now.duration_since(*built) < KEEP_FOR
        {
            return client.clone();
        }
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, (built, _)| now.duration_since(*built) < KEEP_FOR);
            if clients.len() >= MAX_CLIENTS
                && let Some(oldest) = clients.iter().min_by_key(|(_, (b, _))| *b).map(|(k, _)| *k)
            {
                clients.remove(&oldest);
            }
        }
        let client = build();
        clients.insert(key, (now, client.clone()));
        client
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.lock().map(|c| c.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                .build(),
        )
    }

    #[test]
    fn one_client_per_token_and_never_another_tokens() {
        let cache = TenantClients::default();
        let mut built = 0;
        for token in [
            "token-of-ada",
            "token-of-ada",
            "token-of-ben",
            "token-of-ada",
        ] {
            cache.get_or_build(token, || {
                built += 1;
                client()
            });
        }
        assert_eq!(
            built, 2,
            "ada's second and third calls reuse her client; ben gets his own"
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TenantClients::default();
        for i in 0..MAX_CLIENTS + 10 {
            cache.get_or_build(&format!("token-{i}"), client);
        }
        assert!(cache.len() <= MAX_CLIENTS);
    }
}
