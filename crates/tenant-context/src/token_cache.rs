//! A small bounded map from a bearer token to something derived from it, for a while.
//!
//! Keyed by the token's SHA-256, so the map holds no bearer token, and a hit needs the very
//! same token: another user's token, a refreshed one or a tampered copy is another key. Each
//! entry carries its own end (an `Instant`, so a wall-clock step cannot extend it); an entry at
//! or past its end is never returned. Written by hand because the two users (verified tokens,
//! tenant SDK clients) need only this, and a cache crate would bring more than it saves.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

type Entries<T> = HashMap<TokenKey, (Instant, T)>;

/// A token's SHA-256: what the cache keys on, computed once per lookup-then-insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

#[derive(Debug)]
pub struct TokenCache<T> {
    entries: Mutex<Entries<T>>,
    max_entries: usize,
}

impl<T: Clone> TokenCache<T> {
    /// At most `max_entries` entries (at least one); when full, the expired go first, then the
    /// quarter nearest their end.
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
        }
    }

    /// The value kept for exactly this token, if it is still within its time.
    pub fn get(&self, key: &TokenKey) -> Option<T> {
        let now = Instant::now();
        let entries = self.lock();
        entries
            .get(key)
            .filter(|(until, _)| now < *until)
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value` for this token during `valid_for` from now.
    pub fn insert(&self, key: TokenKey, valid_for: Duration, value: T) {
        let now = Instant::now();
        let Some(until) = now.checked_add(valid_for) else {
            return;
        };
        let mut entries = self.lock();
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, (until, _)| now < *until);
            if entries.len() >= self.max_entries {
                // Make room for a quarter at once, the entries nearest their end first, so a
                // cache full of live entries does not scan the whole map on every insert.
                let mut ends: Vec<(Instant, TokenKey)> =
                    entries.iter().map(|(k, (u, _))| (*u, *k)).collect();
                let room = (self.max_entries / 4).max(1);
                ends.select_nth_unstable_by_key(room - 1, |(until, _)| *until);
                for (_, k) in &ends[..room] {
                    entries.remove(k);
                }
            }
        }
        entries.insert(key, (until, value));
    }

    /// How many entries are held (expired ones included until they are evicted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<T>> {
        // A poisoned lock only means another call panicked mid-insert; the map is still a map.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(token: &str) -> TokenKey {
        TokenKey::of(token)
    }

    #[test]
    fn only_the_same_token_finds_its_entry() {
        let cache = TokenCache::new(8);
        cache.insert(key("token-of-ada"), Duration::from_secs(60), "ada");
        assert_eq!(cache.get(&key("token-of-ada")), Some("ada"));
        for other in [
            "token-of-ben",
            "token-of-ad",
            "token-of-ada ",
            "TOKEN-OF-ADA",
            "",
        ] {
            assert_eq!(cache.get(&key(other)), None, "{other:?}");
        }
    }

    #[test]
    fn an_entry_is_not_returned_at_or_after_its_end() {
        let cache = TokenCache::new(8);
        cache.insert(key("now-ended"), Duration::ZERO, 1);
        assert_eq!(cache.get(&key("now-ended")), None);
        cache.insert(key("short"), Duration::from_millis(30), 2);
        assert_eq!(cache.get(&key("short")), Some(2));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&key("short")), None);
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_the_newest() {
        let cache = TokenCache::new(16);
        for i in 0..100u64 {
            cache.insert(key(&format!("token-{i}")), Duration::from_secs(60 + i), i);
        }
        assert!(cache.len() <= 16);
        // Each entry here lives longer than the one before, so the newest are kept.
        for i in 96..100u64 {
            assert_eq!(cache.get(&key(&format!("token-{i}"))), Some(i));
        }
        assert_eq!(cache.get(&key("token-0")), None);
    }
}
