//! Sealed page tokens for `GET /audit`.
//!
//! CloudWatch Logs' `nextToken` is not documented to stay bound to the stream prefix it was
//! issued for, so callers never see it: they get it inside a token that also names the clinic
//! and the whole query, sealed with HMAC-SHA256 under a key only the reader holds. An altered
//! token fails the MAC; a genuine token of another clinic or another query is refused before
//! anything is read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tenant_context::ClinicId;

use crate::{AuditError, AuditQuery};

type HmacSha256 = Hmac<Sha256>;
pub const MIN_KEY_BYTES: usize = 32;
/// Domain separation: a key derived for audit page tokens is good for nothing else.
const PURPOSE: &[u8] = b"tenantry audit page token v1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    v: u8,
    /// The clinic the token was issued to.
    c: String,
    /// The query it continues.
    q: AuditQuery,
    /// CloudWatch Logs' own token.
    n: String,
}

#[derive(Clone)]
pub struct PageSeal {
    key: Vec<u8>,
}

impl std::fmt::Debug for PageSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageSeal(<key redacted>)")
    }
}

impl PageSeal {
    /// A seal keyed by `secret` (at least 32 bytes), through a derivation of its own, so the
    /// secret can be one the process already holds for another purpose.
    pub fn derived(secret: &[u8]) -> Result<Self, AuditError> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(AuditError::KeyTooShort(MIN_KEY_BYTES));
        }
        let mut mac = mac(secret);
        mac.update(PURPOSE);
        Ok(Self {
            key: mac.finalize().into_bytes().to_vec(),
        })
    }

    /// A seal with a fresh random key: for a reader whose tokens never leave the process.
    pub fn ephemeral() -> Result<Self, AuditError> {
        let mut key = vec![0u8; MIN_KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| AuditError::Random(e.to_string()))?;
        Ok(Self { key })
    }

    pub fn seal(&self, clinic: &ClinicId, query: &AuditQuery, next: &str) -> String {
        let payload = serde_json::to_vec(&Payload {
            v: 1,
            c: clinic.to_string(),
            q: query.clone(),
            n: next.to_owned(),
        })
        .unwrap_or_default();
        let mut mac = mac(&self.key);
        mac.update(&payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// CloudWatch Logs' token inside `token` and the query it continues, if it was sealed here
    /// for `clinic` and a query with `query`'s filters (patient, user). The time range and page
    /// size are the first request's: a range left to default ("the last seven days") would
    /// otherwise move between pages.
    pub fn open(
        &self,
        token: &str,
        clinic: &ClinicId,
        query: &AuditQuery,
    ) -> Result<(String, AuditQuery), AuditError> {
        let (payload, tag) = token.split_once('.').ok_or(AuditError::PageTokenInvalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| AuditError::PageTokenInvalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| AuditError::PageTokenInvalid)?;
        let mut mac = mac(&self.key);
        mac.update(&payload);
        mac.verify_slice(&tag)
            .map_err(|_| AuditError::PageTokenInvalid)?;
        let p: Payload =
            serde_json::from_slice(&payload).map_err(|_| AuditError::PageTokenInvalid)?;
        if p.v != 1 {
            return Err(AuditError::PageTokenInvalid);
        }
        if p.c != clinic.as_str() || p.q.patient != query.patient || p.q.user != query.user {
            return Err(AuditError::PageTokenOtherQuery);
        }
        Ok((p.n, p.q))
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn query(patient: Option<&str>) -> AuditQuery {
        AuditQuery {
            patient: patient.map(str::to_owned),
            user: None,
            from: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().unwrap(),
            to: Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).single().unwrap(),
            limit: 50,
        }
    }

    fn clinic(id: &str) -> ClinicId {
        ClinicId::parse(id).unwrap()
    }

    #[test]
    fn a_token_continues_only_its_own_clinic_and_query() {
        let seal = PageSeal::derived(&[7u8; 32]).unwrap();
        let q = query(Some("p-1001"));
        let t = seal.seal(&clinic("clinic-a"), &q, "cw-next");
        let mut later = q.clone();
        later.to += chrono::Duration::minutes(1);
        let (next, continued) = seal.open(&t, &clinic("clinic-a"), &later).unwrap();
        assert_eq!((next.as_str(), continued), ("cw-next", q.clone()));
        let e = seal.open(&t, &clinic("clinic-b"), &q).unwrap_err();
        assert_eq!(e.code(), "next_token_other_query");
        let e = seal
            .open(&t, &clinic("clinic-a"), &query(None))
            .unwrap_err();
        assert_eq!(e.code(), "next_token_other_query");
    }

    #[test]
    fn an_altered_or_foreign_token_fails_the_seal() {
        let seal = PageSeal::derived(&[7u8; 32]).unwrap();
        let other = PageSeal::derived(&[8u8; 32]).unwrap();
        let q = query(None);
        let t = seal.seal(&clinic("clinic-a"), &q, "cw-next");
        // The same clinic's token, re-sealed under another key.
        let forged = other.seal(&clinic("clinic-a"), &q, "cw-other");
        // A payload swapped in under the original tag.
        let (_, tag) = t.split_once('.').unwrap();
        let swapped = format!("{}.{tag}", forged.split_once('.').unwrap().0);
        for bad in [forged.as_str(), swapped.as_str(), "", "x.y", "cw-next"] {
            let e = seal.open(bad, &clinic("clinic-a"), &q).unwrap_err();
            assert_eq!(e.code(), "next_token_invalid", "{bad}");
        }
        assert!(PageSeal::derived(&[0u8; 31]).is_err());
    }
}
