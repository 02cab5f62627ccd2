//! `TenantContext`: who is calling, as established from a verified identity.
//!
//! Three ways in, each fail-closed:
//! - a verified Cognito ID token (`TokenVerifier::verify`, which calls `from_claims`);
//! - the string claims / context map API Gateway hands a Lambda after an authorizer
//!   (`from_claims`): our authorizer emits the same claim names as the token;
//! - propagated tenant headers, accepted only when they equal what a verified token yields
//!   (`from_propagated_headers`).

use std::collections::HashMap;
use std::hash::BuildHasher;

use serde_json::Value;

use crate::error::Error;
use crate::ids::{ClinicId, Role, TierName, UserKey};
use crate::tiers::TierCatalog;

/// Claim names, as Cognito puts them in the ID token and API Gateway passes them on.
pub const CLAIM_SUB: &str = "sub";
pub const CLAIM_TIER: &str = "custom:tier";
pub const CLAIM_CLINIC_ID: &str = "custom:clinic_id";
pub const CLAIM_ROLE: &str = "custom:role";
pub const CLAIM_USERNAME: &str = "cognito:username";

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TenantContext {
    tier: TierName,
    clinic_id: ClinicId,
    user: UserKey,
    role: Role,
}

/// Read access to string claims, whatever map they arrive in.
pub trait ClaimSource {
    /// `Ok(None)` when absent (or JSON null); an error when present but not a string.
    fn claim(&self, name: &'static str) -> Result<Option<&str>, Error>;
}

impl ClaimSource for serde_json::Map<String, Value> {
    fn claim(&self, name: &'static str) -> Result<Option<&str>, Error> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::ClaimNotString(name)),
        }
    }
}

impl<S: BuildHasher> ClaimSource for HashMap<String, Value, S> {
    fn claim(&self, name: &'static str) -> Result<Option<&str>, Error> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::ClaimNotString(name)),
        }
    }
}

impl<S: BuildHasher> ClaimSource for HashMap<String, String, S> {
    fn claim(&self, name: &'static str) -> Result<Option<&str>, Error> {
        Ok(self.get(name).map(String::as_str))
    }
}

fn required<'a>(claims: &'a impl ClaimSource, name: &'static str) -> Result<&'a str, Error> {
    claims.claim(name)?.ok_or(Error::MissingClaim(name))
}

fn in_claim<T>(claim: &'static str, r: Result<T, Error>) -> Result<T, Error> {
    r.map_err(|e| Error::InvalidClaim {
        claim,
        source: Box::new(e),
    })
}

impl TenantContext {
    pub fn new(tier: TierName, clinic_id: ClinicId, user: UserKey, role: Role) -> Self {
        Self {
            tier,
            clinic_id,
            user,
            role,
        }
    }

    /// From its four parts as strings, each checked like the corresponding claim (the tier
    /// against `catalog`). For values that come from a trusted store, not from a caller.
    pub fn parse(
        catalog: &TierCatalog,
        tier: &str,
        clinic_id: &str,
        user: &str,
        role: &str,
    ) -> Result<Self, Error> {
        Ok(Self::new(
            catalog.tier(tier)?,
            ClinicId::parse(clinic_id)?,
            UserKey::parse(user)?,
            Role::parse(role)?,
        ))
    }

    /// From claims that a trusted party has already verified (our token verifier, or API
    /// Gateway after an authorizer). Every claim is required; there is no default tenant,
    /// tier, user or role.
    pub fn from_claims(claims: &impl ClaimSource, catalog: &TierCatalog) -> Result<Self, Error> {
        let user = in_claim(CLAIM_SUB, UserKey::parse(required(claims, CLAIM_SUB)?))?;
        let tier = in_claim(CLAIM_TIER, catalog.tier(required(claims, CLAIM_TIER)?))?;
        let clinic_id = in_claim(
            CLAIM_CLINIC_ID,
            ClinicId::parse(required(claims, CLAIM_CLINIC_ID)?),
        )?;
        let role = in_claim(CLAIM_ROLE, Role::parse(required(claims, CLAIM_ROLE)?))?;
        Ok(Self::new(tier, clinic_id, user, role))
    }

    /// Accepts propagated tenant headers only when each of X-Tier, X-Clinic-ID and
    /// X-S3-Prefix is present (names compared case-insensitively) and equals what the
    /// verified context derives. Returns the verified context: the headers never add to it.
    pub fn from_propagated_headers<I, K, V>(
        headers: I,
        verified: &TenantContext,
    ) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let expected = verified.tenant_headers();
        let mut seen: [Option<String>; 3] = Default::default();
        for (name, value) in headers {
            let Some(i) = expected
                .iter()
                .position(|(h, _)| h.eq_ignore_ascii_case(name.as_ref()))
            else {
                continue;
            };
            match &seen[i] {
                Some(prev) if prev != value.as_ref() => {
                    return Err(Error::AmbiguousHeader(expected[i].0));
                }
                _ => seen[i] = Some(value.as_ref().to_owned()),
            }
        }
        for ((header, want), got) in expected.iter().zip(seen.iter()) {
            match got {
                None => return Err(Error::MissingHeader(header)),
                Some(v) if v != want => return Err(Error::HeaderMismatch(header)),
                Some(_) => {}
            }
        }
        Ok(verified.clone())
    }

    pub fn tier(&self) -> &TierName {
        &self.tier
    }

    pub fn clinic_id(&self) -> &ClinicId {
        &self.clinic_id
    }

    pub fn user(&self) -> &UserKey {
        &self.user
    }

    pub fn role(&self) -> &Role {
        &self.role
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::headers::{
        CLINIC_ID as HEADER_CLINIC_ID, S3_PREFIX as HEADER_S3_PREFIX, TIER as HEADER_TIER,
    };

    fn catalog() -> TierCatalog {
        TierCatalog::embedded().unwrap()
    }

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn good() -> HashMap<String, String> {
        claims(&[
            (CLAIM_SUB, "ad1801bc-cccb-4d79-86e5-0cbec6a35465"),
            (CLAIM_TIER, "basic"),
            (CLAIM_CLINIC_ID, "clinic-a"),
            (CLAIM_ROLE, "clinician"),
        ])
    }

    #[test]
    fn string_map_from_api_gateway() {
        let ctx = TenantContext::from_claims(&good(), &catalog()).unwrap();
        assert_eq!(ctx.tier().as_str(), "basic");
        assert_eq!(ctx.clinic_id().as_str(), "clinic-a");
        assert_eq!(ctx.user().as_str(), "ad1801bc-cccb-4d79-86e5-0cbec6a35465");
        assert_eq!(ctx.role().as_str(), "clinician");
    }

    #[test]
    fn parse_checks_every_part() {
        let cat = catalog();
        let ok = TenantContext::parse(&cat, "basic", "clinic-a", "u-1", "clinician").unwrap();
        assert_eq!(ok.clinic_id().as_str(), "clinic-a");
        assert!(matches!(
            TenantContext::parse(&cat, "gold", "clinic-a", "u-1", "clinician"),
            Err(Error::UnknownTier)
        ));
        for (clinic, user, role) in [
            ("a--b", "u-1", "clinician"),
            ("clinic-a", "a@b", "clinician"),
            ("clinic-a", "u-1", "Admin"),
        ] {
            assert!(matches!(
                TenantContext::parse(&cat, "basic", clinic, user, role),
                Err(Error::InvalidIdentifier { .. })
            ));
        }
    }

    #[test]
    fn every_claim_is_required() {
        for missing in [CLAIM_SUB, CLAIM_TIER, CLAIM_CLINIC_ID, CLAIM_ROLE] {
            let mut c = good();
            c.remove(missing);
            match TenantContext::from_claims(&c, &catalog()) {
                Err(Error::MissingClaim(name)) => assert_eq!(name, missing),
                other => panic!("{missing}: {other:?}"),
            }
        }
    }

    #[test]
    fn invalid_values_name_the_claim() {
        for (claim, value) in [
            (CLAIM_TIER, "enterprise"),
            (CLAIM_TIER, "PREMIUM"),
            (CLAIM_CLINIC_ID, "clinic-a/../b"),
            (CLAIM_SUB, "alice@example.com"),
            (CLAIM_ROLE, "Admin"),
        ] {
            let mut c = good();
            c.insert(claim.to_string(), value.to_string());
            match TenantContext::from_claims(&c, &catalog()) {
                Err(Error::InvalidClaim { claim: got, .. }) => assert_eq!(got, claim),
                other => panic!("{claim}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn non_string_claim_in_authorizer_context_is_rejected() {
        let mut m: HashMap<String, Value> = good()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        m.insert(
            CLAIM_CLINIC_ID.into(),
            serde_json::json!(["clinic-a", "clinic-b"]),
        );
        assert!(matches!(
            TenantContext::from_claims(&m, &catalog()),
            Err(Error::ClaimNotString(CLAIM_CLINIC_ID))
        ));
        m.insert(CLAIM_CLINIC_ID.into(), Value::Null);
        assert!(matches!(
            TenantContext::from_claims(&m, &catalog()),
            Err(Error::MissingClaim(CLAIM_CLINIC_ID))
        ));
    }

    fn verified() -> TenantContext {
        TenantContext::from_claims(&good(), &catalog()).unwrap()
    }

    #[test]
    fn agreeing_headers_are_accepted_case_insensitively() {
        let v = verified();
        let headers = [
            ("x-tier", "basic"),
            ("X-CLINIC-ID", "clinic-a"),
            ("x-s3-prefix", "basic-tier/clinic-a/"),
            ("x-other", "ignored"),
        ];
        assert_eq!(
            TenantContext::from_propagated_headers(headers, &v).unwrap(),
            v
        );
    }

    #[test]
    fn disagreeing_headers_are_refused() {
        let v = verified();
        let base = [
            (HEADER_TIER, "basic"),
            (HEADER_CLINIC_ID, "clinic-a"),
            (HEADER_S3_PREFIX, "basic-tier/clinic-a/"),
        ];
        for (i, forged) in ["premium", "clinic-b", "basic-tier/clinic-b/"]
            .iter()
            .enumerate()
        {
            let mut h = base;
            h[i].1 = forged;
            match TenantContext::from_propagated_headers(h, &v) {
                Err(Error::HeaderMismatch(name)) => assert_eq!(name, base[i].0),
                other => panic!("{forged}: {other:?}"),
            }
        }
        for i in 0..3 {
            let h: Vec<_> = base
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| *p)
                .collect();
            assert!(matches!(
                TenantContext::from_propagated_headers(h, &v),
                Err(Error::MissingHeader(_))
            ));
        }
        let mut dup = base.to_vec();
        dup.push(("x-clinic-id", "clinic-b"));
        assert!(matches!(
            TenantContext::from_propagated_headers(dup, &v),
            Err(Error::AmbiguousHeader(HEADER_CLINIC_ID))
        ));
    }
}
