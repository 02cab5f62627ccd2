//! Validated identifier newtypes.
//!
//! Every identifier that names a tenant is parsed once, at the edge, into one of these types.
//! The grammars are deliberately narrow: each component's alphabet excludes the separators the
//! derived names (see `names.rs`) put between components, which is what makes those names
//! injective, and every alphabet is a subset of what AgentCore Memory and STS accept.

use std::fmt;

use crate::error::{Error, IdKind};

/// Longest clinic id accepted: it goes into role session names, memory actor ids and S3 keys,
/// which all have length limits of their own.
pub const CLINIC_ID_MAX_LEN: usize = 48;
/// Longest tier name accepted; tiers are few and short.
pub const TIER_NAME_MAX_LEN: usize = 16;
/// Longest user key accepted. Cognito `sub` values are 36-character UUIDs.
pub const USER_KEY_MAX_LEN: usize = 128;
/// Longest role accepted.
pub const ROLE_MAX_LEN: usize = 32;
/// AgentCore Runtime session ids are 33 to 256 characters (InvokeAgentRuntime model).
pub const RUNTIME_SESSION_ID_LEN: std::ops::RangeInclusive<usize> = 33..=256;

fn invalid(kind: IdKind, rule: &'static str) -> Error {
    Error::InvalidIdentifier { kind, rule }
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// A tier name: `^[a-z][a-z0-9]*$`, at most 16 characters. Grammar only: whether the tier
    /// exists is the tier catalog's decision (`TierCatalog::tier`), which is the only public way
    /// to obtain one.
    TierName
);

impl TierName {
    pub(crate) fn parse(raw: &str) -> Result<Self, Error> {
        let mut chars = raw.chars();
        match chars.next() {
            None => return Err(invalid(IdKind::Tier, "must not be empty")),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err(invalid(IdKind::Tier, "must start with a lowercase letter"));
            }
            Some(_) => {}
        }
        if raw.len() > TIER_NAME_MAX_LEN {
            return Err(invalid(IdKind::Tier, "must be at most 16 characters"));
        }
        if !chars.all(is_lower_alnum) {
            return Err(invalid(
                IdKind::Tier,
                "may contain only lowercase letters and digits",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

string_newtype!(
    /// The tenant id: `^[a-z0-9]+(-[a-z0-9]+)*$`, at most 48 characters.
    ClinicId
);

impl ClinicId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if raw.is_empty() {
            return Err(invalid(IdKind::ClinicId, "must not be empty"));
        }
        if raw.len() > CLINIC_ID_MAX_LEN {
            return Err(invalid(IdKind::ClinicId, "must be at most 48 characters"));
        }
        // Hyphen-separated runs of [a-z0-9]: no leading, trailing or doubled hyphen.
        if !raw
            .split('-')
            .all(|run| !run.is_empty() && run.chars().all(is_lower_alnum))
        {
            return Err(invalid(
                IdKind::ClinicId,
                "must be lowercase letters and digits in runs joined by single hyphens",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

string_newtype!(
    /// The user key: the Cognito `sub`. `^[A-Za-z0-9][A-Za-z0-9-]*$`, at most 128 characters
    /// (Cognito issues UUIDs). Never the username or email: those are mutable and personal.
    UserKey
);

impl UserKey {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let mut chars = raw.chars();
        match chars.next() {
            None => return Err(invalid(IdKind::UserKey, "must not be empty")),
            Some(c) if !c.is_ascii_alphanumeric() => {
                return Err(invalid(
                    IdKind::UserKey,
                    "must start with a letter or digit",
                ));
            }
            Some(_) => {}
        }
        if raw.len() > USER_KEY_MAX_LEN {
            return Err(invalid(IdKind::UserKey, "must be at most 128 characters"));
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid(
                IdKind::UserKey,
                "may contain only ASCII letters, digits and hyphens",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

string_newtype!(
    /// The user's role inside the clinic: `^[a-z][a-z0-9_]*$`, at most 32 characters.
    Role
);

impl Role {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let mut chars = raw.chars();
        match chars.next() {
            None => return Err(invalid(IdKind::Role, "must not be empty")),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err(invalid(IdKind::Role, "must start with a lowercase letter"));
            }
            Some(_) => {}
        }
        if raw.len() > ROLE_MAX_LEN {
            return Err(invalid(IdKind::Role, "must be at most 32 characters"));
        }
        if !chars.all(|c| is_lower_alnum(c) || c == '_') {
            return Err(invalid(
                IdKind::Role,
                "may contain only lowercase letters, digits and underscores",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

string_newtype!(
    /// An AgentCore Runtime session id as a caller may supply it: 33 to 256 characters of
    /// `[A-Za-z0-9_-]`, starting with a letter or digit. The service itself sets no pattern;
    /// this narrower one keeps the id safe to log, to put in a header and to derive from.
    RuntimeSessionId
);

impl RuntimeSessionId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if !RUNTIME_SESSION_ID_LEN.contains(&raw.len()) {
            return Err(invalid(
                IdKind::RuntimeSessionId,
                "must be 33 to 256 characters long",
            ));
        }
        let mut chars = raw.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                IdKind::RuntimeSessionId,
                "must start with a letter or digit",
            ));
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(invalid(
                IdKind::RuntimeSessionId,
                "may contain only ASCII letters, digits, hyphens and underscores",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clinic_id_grammar() {
        for ok in ["clinic-a", "a", "st-marys-2", &"a".repeat(48)] {
            assert!(ClinicId::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "",
            "clinic-a/../b",
            "Clinic-A",
            "a--b",
            "-a",
            "a-",
            "a_b",
            "a b",
            "clínica",
            &"a".repeat(49),
        ] {
            let err = ClinicId::parse(bad).expect_err(bad);
            assert!(
                matches!(
                    err,
                    Error::InvalidIdentifier {
                        kind: IdKind::ClinicId,
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn tier_name_grammar() {
        assert!(TierName::parse("basic").is_ok());
        assert!(TierName::parse("tier2").is_ok());
        for bad in ["", "Basic", "2tier", "basic-plus", "a".repeat(17).as_str()] {
            assert!(TierName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_key_grammar() {
        assert!(UserKey::parse("ad1801bc-cccb-4d79-86e5-0cbec6a35465").is_ok());
        for bad in [
            "",
            "-abc",
            "alice@clinic.example",
            "a/b",
            "a:b",
            &"a".repeat(129),
        ] {
            assert!(UserKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_grammar() {
        assert!(Role::parse("clinician").is_ok());
        assert!(Role::parse("front_desk").is_ok());
        for bad in ["", "Admin", "_x", "a-b", &"a".repeat(33)] {
            assert!(Role::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn runtime_session_id_grammar() {
        assert!(RuntimeSessionId::parse(&"a".repeat(33)).is_ok());
        assert!(RuntimeSessionId::parse(&"a".repeat(256)).is_ok());
        for bad in [
            "a".repeat(32),
            "a".repeat(257),
            format!("-{}", "a".repeat(40)),
            format!("{}/x", "a".repeat(40)),
        ] {
            assert!(RuntimeSessionId::parse(&bad).is_err(), "{bad}");
        }
    }
}
