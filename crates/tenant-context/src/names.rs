//! Names derived from a tenant context: memory actor id, memory namespaces and session id, S3
//! prefix, STS session tags and role session name, tenant headers.
//!
//! Why these formats: every component's alphabet (see `ids.rs`) excludes the separator placed
//! after it, so each name can be split back into its components, which makes it injective.
//! The published AWS sample's `{tier}-{clinic}-{user}` was not: clinic ids contain hyphens.
//! The IAM policies (infra) rebuild the same strings from the same session tags.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::context::TenantContext;
use crate::error::Error;
use crate::ids::{ClinicId, RuntimeSessionId, TierName, UserKey};
use contracts::headers;

use crate::namespace::{ACTOR_ID_PLACEHOLDER, SESSION_ID_PLACEHOLDER};

use crate::tiers::MemoryStrategy;

/// STS session tag keys. The IAM policies refer to `${aws:PrincipalTag/<key>}`.
pub const TAG_TIER: &str = "Tier";
pub const TAG_CLINIC_ID: &str = "ClinicId";
pub const TAG_USER_ID: &str = "UserId";

/// STS RoleSessionName length limit.
pub const ROLE_SESSION_NAME_MAX: usize = 64;
/// How much of the clinic id the hashed role session name keeps for readability.
const HASHED_SESSION_NAME_CLINIC_CHARS: usize = 20;
/// AgentCore Memory sessionId length limit.
const MEMORY_SESSION_ID_MAX: usize = 100;

/// An AgentCore Memory actorId: `{tier}/{clinic_id}/{user_key}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActorId(String);

/// An AgentCore Memory sessionId derived from a runtime session id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemorySessionId(String);

macro_rules! as_str {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
as_str!(ActorId, MemorySessionId);

impl MemorySessionId {
    /// Runtime session ids that fit the Memory sessionId grammar without an underscore and
    /// within 100 characters are used as they are (readable in the console). Any other id
    /// becomes `h_` + hex SHA-256 of it: the underscore marks the hashed form, which a
    /// verbatim id never contains, so the two forms cannot collide. Hashed ids are unique up
    /// to SHA-256 collisions.
    pub fn from_runtime(id: &RuntimeSessionId) -> Self {
        let raw = id.as_str();
        if raw.len() <= MEMORY_SESSION_ID_MAX && !raw.contains('_') {
            Self(raw.to_owned())
        } else {
            Self(format!("h_{}", hex(&Sha256::digest(raw.as_bytes()))))
        }
    }
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

/// The tag on every tenant API key naming this application, and its value: tenant-admin sets it,
/// the authorizer's role may read only keys carrying it (IAM `aws:ResourceTag`).
pub const API_KEY_TAG_APPLICATION: (&str, &str) = ("Application", "tenantry");
/// The tag on a tenant API key naming the tenant it belongs to.
pub const API_KEY_TAG_CLINIC_ID: &str = TAG_CLINIC_ID;

/// The tags a clinic's API key carries (tenant-admin sets them) and must carry to be used for
/// that clinic (the authorizer checks them).
pub fn api_key_tags(clinic: &ClinicId) -> [(&'static str, String); 2] {
    [
        (
            API_KEY_TAG_APPLICATION.0,
            API_KEY_TAG_APPLICATION.1.to_owned(),
        ),
        (API_KEY_TAG_CLINIC_ID, clinic.to_string()),
    ]
}

/// Whose memory it is: the tier, clinic and user that key a user's AgentCore Memory (its actor
/// id and namespaces). The role is no part of it, so what one role's conversations left there
/// stays for the same person in another role unless it is erased (tenant-admin does, on a
/// role change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryOwner {
    tier: TierName,
    clinic: ClinicId,
    user: UserKey,
}

impl MemoryOwner {
    pub fn new(tier: TierName, clinic: ClinicId, user: UserKey) -> Self {
        Self { tier, clinic, user }
    }

    /// The AgentCore Memory actorId: `{tier}/{clinic_id}/{user_key}`.
    pub fn actor_id(&self) -> ActorId {
        ActorId(format!("{}/{}/{}", self.tier, self.clinic, self.user))
    }

    /// Where every record of this user for `strategy` lies, every session's included: the
    /// namespace up to its `{sessionId}` (the whole namespace when it has none). What an
    /// erasure of the user's memory lists; it ends with `/`, so it never reaches into
    /// another actor's records.
    pub fn namespace_path(&self, strategy: &MemoryStrategy) -> Result<String, Error> {
        let actor = self.actor_id();
        let with_actor = strategy
            .namespace
            .replacen(ACTOR_ID_PLACEHOLDER, actor.as_str(), 1);
        let path = match with_actor.find(SESSION_ID_PLACEHOLDER) {
            Some(at) => &with_actor[..at],
            None => &with_actor,
        };
        if !path.ends_with('/') || !path.contains(actor.as_str()) {
            return Err(Error::Config {
                field: "memory namespace",
                reason: format!(
                    "strategy `{}`: the part before {{sessionId}} must name the actor and end with `/`",
                    strategy.name
                ),
            });
        }
        Ok(path.to_owned())
    }
}

impl TenantContext {
    /// Whose memory this tenant user's is (tier, clinic and user; not the role).
    pub fn memory_owner(&self) -> MemoryOwner {
        MemoryOwner::new(
            self.tier().clone(),
            self.clinic_id().clone(),
            self.user().clone(),
        )
    }

    /// The AgentCore Memory actorId of this tenant user.
    pub fn actor_id(&self) -> ActorId {
        self.memory_owner().actor_id()
    }

    /// A memory strategy's namespace for this tenant user. Templates are checked when the
    /// tier file loads; a template that needs `{sessionId}` without one is an error.
    pub fn memory_namespace(
        &self,
        strategy: &MemoryStrategy,
        session: Option<&MemorySessionId>,
    ) -> Result<String, Error> {
        let with_actor =
            strategy
                .namespace
                .replacen(ACTOR_ID_PLACEHOLDER, self.actor_id().as_str(), 1);
        match (with_actor.contains(SESSION_ID_PLACEHOLDER), session) {
            (false, _) => Ok(with_actor),
            (true, Some(s)) => Ok(with_actor.replacen(SESSION_ID_PLACEHOLDER, s.as_str(), 1)),
            (true, None) => Err(Error::Config {
                field: "memory namespace",
                reason: format!("strategy `{}` needs a session id", strategy.name),
            }),
        }
    }

    /// [`MemoryOwner::namespace_path`] of this tenant user.
    pub fn memory_namespace_path(&self, strategy: &MemoryStrategy) -> Result<String, Error> {
        self.memory_owner().namespace_path(strategy)
    }

    /// The tenant's document prefix in its tier's bucket: `{tier}-tier/{clinic_id}/`.
    pub fn s3_prefix(&self) -> String {
        format!("{}-tier/{}/", self.tier(), self.clinic_id())
    }

    /// STS session tags, in a fixed order. All are passed as transitive tags.
    pub fn session_tags(&self) -> [(&'static str, &str); 3] {
        [
            (TAG_TIER, self.tier().as_str()),
            (TAG_CLINIC_ID, self.clinic_id().as_str()),
            (TAG_USER_ID, self.user().as_str()),
        ]
    }

    /// STS RoleSessionName (2-64 of `[\w+=,.@-]`), shown in CloudTrail on every call the
    /// vended credentials make. `{tier}.{clinic}.{user}` when it fits (readable, and split by
    /// dots, which no component contains); otherwise the clinic id's first 20 characters,
    /// `@`, and the unpadded base64url SHA-256 of the three components (43 characters). Only
    /// the hashed form contains `@`, so the forms cannot collide; hashed names are unique up to
    /// SHA-256 collisions.
    pub fn role_session_name(&self) -> String {
        let plain = format!("{}.{}.{}", self.tier(), self.clinic_id(), self.user());
        if plain.len() <= ROLE_SESSION_NAME_MAX {
            return plain;
        }
        let mut h = Sha256::new();
        // NUL separators: no component contains one, so the hash input is unambiguous.
        for part in [
            self.tier().as_str(),
            self.clinic_id().as_str(),
            self.user().as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize());
        let clinic = self.clinic_id().as_str();
        let keep = clinic.len().min(HASHED_SESSION_NAME_CLINIC_CHARS);
        format!("{}@{digest}", &clinic[..keep])
    }

    /// Headers that carry the tenant to the next hop, where they are cross-checked against
    /// a verified token (`TenantContext::from_propagated_headers`).
    pub fn tenant_headers(&self) -> [(&'static str, String); 3] {
        [
            (headers::TIER, self.tier().to_string()),
            (headers::CLINIC_ID, self.clinic_id().to_string()),
            (headers::S3_PREFIX, self.s3_prefix()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AgentCore reads records by namespace prefix: no user's namespace may be a prefix of
    /// another user's, even when one user id extends the other, in any strategy of any tier.
    #[test]
    fn no_users_namespace_is_a_prefix_of_anothers() {
        use crate::{TenantContext, TierCatalog};
        let catalog = TierCatalog::embedded().unwrap();
        let session =
            MemorySessionId::from_runtime(&RuntimeSessionId::parse(&"s".repeat(40)).unwrap());
        let longer =
            MemorySessionId::from_runtime(&RuntimeSessionId::parse(&"s".repeat(41)).unwrap());
        for (tier, config) in catalog.iter() {
            let user = |sub: &str, clinic: &str| {
                TenantContext::parse(&catalog, tier.as_str(), clinic, sub, "clinician").unwrap()
            };
            let pairs = [
                (user("u-1", "clinic-a"), user("u-12", "clinic-a")),
                (user("u-1", "clinic-a"), user("u-1", "clinic-ab")),
            ];
            for strategy in &config.memory.strategies {
                for (a, b) in &pairs {
                    let na = a.memory_namespace(strategy, Some(&session)).unwrap();
                    for s in [&session, &longer] {
                        let nb = b.memory_namespace(strategy, Some(s)).unwrap();
                        assert!(!nb.starts_with(&na), "{na} is a prefix of {nb}");
                    }
                }
            }
        }
    }

    /// An erasure lists a user's records by the namespace path: it covers every session's
    /// namespace of that user and no other user's, in every strategy of every tier.
    #[test]
    fn a_users_namespace_path_covers_their_sessions_and_nobody_elses() {
        use crate::{TenantContext, TierCatalog};
        let catalog = TierCatalog::embedded().unwrap();
        let sessions = [40, 41].map(|n| {
            MemorySessionId::from_runtime(&RuntimeSessionId::parse(&"s".repeat(n)).unwrap())
        });
        for (tier, config) in catalog.iter() {
            let user = |sub: &str, clinic: &str| {
                TenantContext::parse(&catalog, tier.as_str(), clinic, sub, "nurse").unwrap()
            };
            let (me, others) = (
                user("u-1", "clinic-a"),
                [user("u-12", "clinic-a"), user("u-1", "clinic-ab")],
            );
            for strategy in &config.memory.strategies {
                let path = me.memory_namespace_path(strategy).unwrap();
                for s in &sessions {
                    let mine = me.memory_namespace(strategy, Some(s)).unwrap();
                    assert!(mine.starts_with(&path), "{path} misses {mine}");
                    for other in &others {
                        let theirs = other.memory_namespace(strategy, Some(s)).unwrap();
                        assert!(!theirs.starts_with(&path), "{path} reaches {theirs}");
                    }
                }
            }
        }
        let odd = crate::MemoryStrategy {
            name: "odd".into(),
            kind: crate::MemoryStrategyKind::Summary,
            namespace: "/summaries/{actorId}-{sessionId}/".into(),
        };
        assert!(user_of(&catalog).memory_namespace_path(&odd).is_err());
    }

    fn user_of(catalog: &crate::TierCatalog) -> crate::TenantContext {
        crate::TenantContext::parse(catalog, "basic", "clinic-a", "u-1", "nurse").unwrap()
    }

    /// A user's memory is keyed without the role: the same person in two roles has one
    /// actor and one set of namespace paths (why a role change must erase it).
    #[test]
    fn memory_is_keyed_by_tier_clinic_and_user_not_role() {
        let catalog = crate::TierCatalog::embedded().unwrap();
        let nurse = user_of(&catalog);
        let admin =
            crate::TenantContext::parse(&catalog, "basic", "clinic-a", "u-1", "admin").unwrap();
        assert_eq!(nurse.memory_owner(), admin.memory_owner());
        assert_eq!(nurse.actor_id().as_str(), "basic/clinic-a/u-1");
        let other =
            crate::TenantContext::parse(&catalog, "premium", "clinic-a", "u-1", "nurse").unwrap();
        assert_ne!(nurse.memory_owner(), other.memory_owner());
        for strategy in &catalog.config(nurse.tier()).unwrap().memory.strategies {
            assert_eq!(
                nurse.memory_namespace_path(strategy).unwrap(),
                admin.memory_owner().namespace_path(strategy).unwrap()
            );
        }
    }

    #[test]
    fn memory_session_id_forms() {
        let short = RuntimeSessionId::parse(&"a".repeat(40)).unwrap();
        assert_eq!(
            MemorySessionId::from_runtime(&short).as_str(),
            "a".repeat(40)
        );
        let long = RuntimeSessionId::parse(&"b".repeat(101)).unwrap();
        let h = MemorySessionId::from_runtime(&long);
        assert!(h.as_str().starts_with("h_") && h.as_str().len() == 66);
        let underscore = RuntimeSessionId::parse(&format!("{}_x", "c".repeat(40))).unwrap();
        assert!(
            MemorySessionId::from_runtime(&underscore)
                .as_str()
                .starts_with("h_")
        );
    }
}
