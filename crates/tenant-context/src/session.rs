//! Runtime session ids bound to the user who owns them.
//!
//! AgentCore Runtime routes every call with the same session id to the same microVM, and it
//! does not map sessions to users: whoever presents a session id reaches that session's
//! conversation. So a session id is only accepted from the user it was issued to. The id
//! carries its issue time, a random part and a keyed digest (HMAC-SHA256, truncated to 128
//! bits) over (tier, clinic id, user key, issue time and random part); the key is a deployment
//! secret shared by the component that issues ids (request-proxy) and every component that
//! accepts them (the agent). Without the key, nobody can make an id that another component
//! accepts for a user, nor make an old one younger.
//!
//! An id expires `SESSION_MAX_AGE` after it was issued: AgentCore Runtime ends a session's
//! microVM after 8 hours at most, so a conversation never outlives that, and a leaked id (with
//! its user's token) cannot be replayed for longer.
//!
//! Format: `tnt-` + 8 hex digits (issue time, Unix seconds) + 24 hex digits (random) + `-` +
//! 32 hex digits (digest), 69 characters, within the runtime's 33-256 and AgentCore Memory's
//! session id pattern.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::context::TenantContext;
use crate::error::Error;
use crate::ids::RuntimeSessionId;

type HmacSha256 = Hmac<Sha256>;

/// Shortest session key accepted, in bytes.
pub const SESSION_KEY_MIN_LEN: usize = 32;
const PREFIX: &str = "tnt-";
const NONCE_HEX: usize = 32;
/// The issue time's share of the nonce.
const ISSUED_HEX: usize = 8;
/// How long a session id is accepted after it was issued: AgentCore Runtime's maximum session
/// lifetime.
pub const SESSION_MAX_AGE: Duration = Duration::from_secs(8 * 3600);
/// How far in the future an issue time may lie (clocks of the issuing and checking hosts).
const CLOCK_SKEW: Duration = Duration::from_secs(300);
const DIGEST_HEX: usize = 32;
/// Domain separation: the key may one day sign other things.
const CONTEXT: &[u8] = b"tenantry-runtime-session-v1";

/// Issues and checks user-bound runtime session ids.
#[derive(Clone)]
pub struct SessionBinder {
    key: Vec<u8>,
}

impl fmt::Debug for SessionBinder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionBinder { key: <redacted> }")
    }
}

impl SessionBinder {
    /// A binder over `key` (at least 32 bytes of secret randomness).
    pub fn new(key: &[u8]) -> Result<Self, Error> {
        if key.len() < SESSION_KEY_MIN_LEN {
            return Err(Error::Config {
                field: "session key",
                reason: format!("must be at least {SESSION_KEY_MIN_LEN} bytes"),
            });
        }
        Ok(Self { key: key.to_vec() })
    }

    /// A binder over a base64 (standard alphabet) key, as configuration holds it.
    pub fn from_base64(encoded: &str) -> Result<Self, Error> {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| Error::Config {
                field: "session key",
                reason: "is not base64".into(),
            })?;
        Self::new(&key)
    }

    fn mac(&self, ctx: &TenantContext, nonce: &str) -> HmacSha256 {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        // Every component is length-free of 0x00 (validated grammars), so 0x00 separates them
        // unambiguously.
        for part in [
            CONTEXT,
            ctx.tier().as_str().as_bytes(),
            ctx.clinic_id().as_str().as_bytes(),
            ctx.user().as_str().as_bytes(),
            nonce.as_bytes(),
        ] {
            mac.update(part);
            mac.update(&[0]);
        }
        mac
    }

    /// A new session id for `ctx`, issued now, with 12 bytes of the operating system's
    /// randomness.
    pub fn issue(&self, ctx: &TenantContext) -> Result<RuntimeSessionId, Error> {
        let mut random = [0u8; 12];
        getrandom::fill(&mut random).map_err(|e| Error::Config {
            field: "system randomness",
            reason: e.to_string(),
        })?;
        Ok(self.issue_at(ctx, unix_now(), random))
    }

    /// The session id for `ctx` issued at `issued_at` (Unix seconds) with a given random part
    /// (tests and deterministic replays).
    pub fn issue_at(
        &self,
        ctx: &TenantContext,
        issued_at: u64,
        random: [u8; 12],
    ) -> RuntimeSessionId {
        // 8 hex digits hold Unix seconds until 2106.
        let issued = u32::try_from(issued_at).unwrap_or(u32::MAX);
        let nonce = format!("{issued:08x}{}", hex(&random));
        let tag = self.mac(ctx, &nonce).finalize().into_bytes();
        let id = format!("{PREFIX}{nonce}-{}", hex(&tag[..DIGEST_HEX / 2]));
        match RuntimeSessionId::parse(&id) {
            Ok(id) => id,
            Err(_) => unreachable!("69 characters of [a-z0-9-] always parse"),
        }
    }

    /// Accepts `id` only if it was issued to `ctx`'s user (same tier, clinic and user key),
    /// and less than `SESSION_MAX_AGE` ago. Every ownership failure is the same error: the
    /// caller learns nothing about whose id it was; only the owner learns that it expired.
    pub fn check(&self, ctx: &TenantContext, id: &RuntimeSessionId) -> Result<(), Error> {
        self.check_at(ctx, id, unix_now())
    }

    /// `check` at the time `now` (Unix seconds).
    pub fn check_at(
        &self,
        ctx: &TenantContext,
        id: &RuntimeSessionId,
        now: u64,
    ) -> Result<(), Error> {
        let (nonce, digest) = split(id.as_str()).ok_or(Error::SessionNotOwned)?;
        let digest = unhex(digest).ok_or(Error::SessionNotOwned)?;
        // Constant-time comparison of the truncated tag.
        self.mac(ctx, nonce)
            .verify_truncated_left(&digest)
            .map_err(|_| Error::SessionNotOwned)?;
        let issued =
            u64::from_str_radix(&nonce[..ISSUED_HEX], 16).map_err(|_| Error::SessionNotOwned)?;
        let too_old = now.saturating_sub(issued) >= SESSION_MAX_AGE.as_secs();
        let from_the_future = issued > now.saturating_add(CLOCK_SKEW.as_secs());
        if too_old || from_the_future {
            return Err(Error::SessionExpired);
        }
        Ok(())
    }
}

/// A short, non-reversible form of a session id for logs (a raw id is a bearer of the
/// session: whoever reads it from a log and holds the user's token could resume it).
pub fn session_log_id(id: &RuntimeSessionId) -> String {
    let digest = Sha256::digest(id.as_str().as_bytes());
    hex(&digest[..LOG_ID_BYTES])
}

const LOG_ID_BYTES: usize = 6;

/// Whether `s` has the form of a [`session_log_id`] (what another hop may pass on): nothing
/// else may reach a log or an audit record in its place.
pub fn is_session_log_id(s: &str) -> bool {
    s.len() == LOG_ID_BYTES * 2
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn split(id: &str) -> Option<(&str, &str)> {
    let rest = id.strip_prefix(PREFIX)?;
    let (nonce, digest) = rest.split_once('-')?;
    let lower_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (nonce.len() == NONCE_HEX
        && digest.len() == DIGEST_HEX
        && lower_hex(nonce)
        && lower_hex(digest))
    .then_some((nonce, digest))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClinicId, Role, TierName, UserKey};

    fn ctx(tier: &str, clinic: &str, user: &str) -> TenantContext {
        TenantContext::new(
            TierName::parse(tier).unwrap(),
            ClinicId::parse(clinic).unwrap(),
            UserKey::parse(user).unwrap(),
            Role::parse("clinician").unwrap(),
        )
    }

    fn binder(byte: u8) -> SessionBinder {
        SessionBinder::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn an_issued_id_is_accepted_for_its_user_only() {
        let b = binder(7);
        let alice = ctx("basic", "clinic-a", "alice-sub");
        let id = b.issue(&alice).unwrap();
        assert_eq!(id.as_str().len(), 69);
        assert!(b.check(&alice, &id).is_ok());
        for other in [
            ctx("basic", "clinic-a", "bob-sub"),
            ctx("basic", "clinic-b", "alice-sub"),
            ctx("premium", "clinic-a", "alice-sub"),
        ] {
            assert!(matches!(b.check(&other, &id), Err(Error::SessionNotOwned)));
        }
    }

    #[test]
    fn another_key_or_an_edited_id_is_refused() {
        let alice = ctx("basic", "clinic-a", "alice-sub");
        let id = binder(1).issue(&alice).unwrap();
        assert!(binder(2).check(&alice, &id).is_err());
        // Flip one digit of the nonce, then of the digest.
        for pos in [5, 60] {
            let mut s = id.as_str().to_owned().into_bytes();
            s[pos] = if s[pos] == b'0' { b'1' } else { b'0' };
            let edited = RuntimeSessionId::parse(std::str::from_utf8(&s).unwrap()).unwrap();
            assert!(binder(1).check(&alice, &edited).is_err(), "position {pos}");
        }
    }

    #[test]
    fn an_id_expires_after_the_maximum_age_and_its_age_cannot_be_edited() {
        let b = binder(5);
        let alice = ctx("basic", "clinic-a", "alice-sub");
        let issued = 1_800_000_000;
        let id = b.issue_at(&alice, issued, [7; 12]);
        let max = SESSION_MAX_AGE.as_secs();
        assert!(b.check_at(&alice, &id, issued).is_ok());
        assert!(b.check_at(&alice, &id, issued + max - 1).is_ok());
        assert!(matches!(
            b.check_at(&alice, &id, issued + max),
            Err(Error::SessionExpired)
        ));
        // Issued in the future beyond the clock skew: refused too.
        assert!(matches!(
            b.check_at(&alice, &id, issued - 301),
            Err(Error::SessionExpired)
        ));
        assert!(b.check_at(&alice, &id, issued - 300).is_ok());
        // Someone else's expired id is "not owned", not "expired".
        let bob = ctx("basic", "clinic-a", "bob-sub");
        assert!(matches!(
            b.check_at(&bob, &id, issued + max),
            Err(Error::SessionNotOwned)
        ));
        // A younger issue time written into the id breaks its digest.
        let mut s = id.as_str().to_owned();
        s.replace_range(4..12, &format!("{:08x}", issued + max));
        let younger = RuntimeSessionId::parse(&s).unwrap();
        assert!(matches!(
            b.check_at(&alice, &younger, issued + max),
            Err(Error::SessionNotOwned)
        ));
        // `issue` stamps the current time.
        assert!(b.check(&alice, &b.issue(&alice).unwrap()).is_ok());
    }

    #[test]
    fn ids_of_another_shape_are_refused() {
        let b = binder(3);
        let alice = ctx("basic", "clinic-a", "alice-sub");
        for raw in [
            "tnt-0123456789abcdef0123456789abcdef",
            "tnt-0123456789abcdef0123456789abcdef-0123456789ABCDEF0123456789ABCDEF",
            "xyz-0123456789abcdef0123456789abcdef-0123456789abcdef0123456789abcdef",
            "a-session-id-chosen-by-the-caller-itself",
        ] {
            let id = RuntimeSessionId::parse(raw).unwrap();
            assert!(b.check(&alice, &id).is_err(), "{raw}");
        }
    }

    #[test]
    fn short_keys_are_refused_and_the_key_is_not_printed() {
        assert!(SessionBinder::new(&[0; 31]).is_err());
        assert!(SessionBinder::from_base64("not base64!").is_err());
        assert!(!format!("{:?}", binder(9)).contains('9'));
    }

    #[test]
    fn log_ids_are_short_and_stable() {
        let id = binder(4).issue_at(&ctx("basic", "clinic-a", "u"), 1_800_000_000, [0; 12]);
        assert_eq!(session_log_id(&id), session_log_id(&id));
        assert_eq!(session_log_id(&id).len(), 12);
        assert!(is_session_log_id(&session_log_id(&id)));
        for not_one in [
            "",
            "0a1b2c3d4e5",
            "0a1b2c3d4e5f0",
            "0A1B2C3D4E5F",
            "0a1b2c3d4e5g",
            "0a1b2c\n4e5f",
        ] {
            assert!(!is_session_log_id(not_one), "{not_one:?}");
        }
        assert!(!id.as_str().contains(&session_log_id(&id)));
    }
}
