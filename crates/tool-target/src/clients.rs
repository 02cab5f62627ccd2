//! The tenant's DynamoDB client, kept per ID token for a while instead of built per call.
//!
//! Why: building an SDK client (its configuration layers, runtime plugins and identity cache)
//! cost more than the rest of a warm call's own work. A client is bound to one caller: its
//! credentials provider vends with that caller's token for that caller's tenant, so the cache
//! key is the token itself (its SHA-256): another user, or the same user's next token, never
//! gets this client. Every call still verifies its token first, so an expired or forged token
//! never reaches the cache.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use tenant_context::{TokenCache, TokenKey};

/// Longer than an ID token lives (15 minutes in the template), so one token keeps one client.
pub const KEEP_FOR: Duration = Duration::from_secs(20 * 60);
/// At most this many clients (one per signed-in user, roughly); the oldest go first.
pub const MAX_CLIENTS: usize = 1024;

#[derive(Debug)]
pub struct TenantClients {
    clients: TokenCache<Client>,
}

impl Default for TenantClients {
    fn default() -> Self {
        Self {
            clients: TokenCache::new(MAX_CLIENTS),
        }
    }
}

impl TenantClients {
    /// The client built for the token with this key (`VerifiedToken::key`), or a new one from
    /// `build`, kept for `KEEP_FOR`.
    pub fn get_or_build(&self, key: TokenKey, build: impl FnOnce() -> Client) -> Client {
        if let Some(client) = self.clients.get(&key) {
            return client;
        }
        let client = build();
        self.clients.insert(key, KEEP_FOR, client.clone());
        client
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.len()
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
            cache.get_or_build(TokenKey::of(token), || {
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
            cache.get_or_build(TokenKey::of(&format!("token-{i}")), client);
        }
        assert!(cache.len() <= MAX_CLIENTS);
    }
}
