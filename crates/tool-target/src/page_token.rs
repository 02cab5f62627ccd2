//! Opaque continuation tokens for listing a clinic's patients.
//!
//! A token carries the last patient id of a page, bound to the clinic it was issued for and
//! sealed with HMAC-SHA256 under a key only this function holds. An altered token fails the
//! MAC; a genuine token of another clinic fails the binding. Either way no query runs: a token
//! can never point into another clinic's partition.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tenant_context::ClinicId;

use crate::error::ToolError;

type HmacSha256 = Hmac<Sha256>;
const MIN_KEY_BYTES: usize = 32;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    v: u8,
    /// Clinic the token was issued for.
    c: String,
    /// Last patient id of the page.
    p: String,
}

#[derive(Clone)]
pub struct PageTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(<key redacted>)")
    }
}

impl PageTokens {
    /// `key`: at least 32 random bytes (`TENANTRY_PAGE_TOKEN_KEY`, base64).
    pub fn new(key: Vec<u8>) -> Result<Self, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the page-token key must be at least {MIN_KEY_BYTES} bytes"
            ));
        }
        Ok(Self { key })
    }

    pub fn from_base64(encoded: &str) -> Result<Self, String> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| "the page-token key must be base64".to_owned())?;
        Self::new(key)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        HmacSha256::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    pub fn seal(&self, clinic: &ClinicId, last_patient_id: &str) -> String {
        let payload = serde_json::to_vec(&Payload {
            v: 1,
            c: clinic.to_string(),
            p: last_patient_id.to_owned(),
        })
        .unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The last patient id the token carries, if it is genuine and was issued for `clinic`.
    pub fn open(&self, token: &str, clinic: &ClinicId) -> Result<String, ToolError> {
        let (p, t) = token.split_once('.').ok_or(ToolError::NextTokenInvalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| ToolError::NextTokenInvalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(t)
            .map_err(|_| ToolError::NextTokenInvalid)?;
        let mut mac = self.mac();
        mac.update(&payload);
        // Constant-time comparison.
        mac.verify_slice(&tag)
            .map_err(|_| ToolError::NextTokenInvalid)?;
        let payload: Payload =
            serde_json::from_slice(&payload).map_err(|_| ToolError::NextTokenInvalid)?;
        if payload.v != 1 {
            return Err(ToolError::NextTokenInvalid);
        }
        if payload.c != clinic.as_str() {
            return Err(ToolError::NextTokenOtherClinic);
        }
        Ok(payload.p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> PageTokens {
        PageTokens::new(vec![7u8; 32]).unwrap()
    }

    #[test]
    fn round_trip_for_the_same_clinic() {
        let a = ClinicId::parse("clinic-a").unwrap();
        let t = tokens().seal(&a, "p-1002");
        assert_eq!(tokens().open(&t, &a).unwrap(), "p-1002");
    }

    #[test]
    fn another_clinics_token_is_refused() {
        let (a, b) = (
            ClinicId::parse("clinic-a").unwrap(),
            ClinicId::parse("clinic-b").unwrap(),
        );
        let t = tokens().seal(&b, "p-2001");
        assert!(matches!(
            tokens().open(&t, &a),
            Err(ToolError::NextTokenOtherClinic)
        ));
    }

    #[test]
    fn altered_tokens_are_refused() {
        let a = ClinicId::parse("clinic-a").unwrap();
        let t = tokens().seal(&a, "p-1002");
        let (p, tag) = t.split_once('.').unwrap();
        // Point the payload at clinic-b, keep the tag.
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"v":1,"c":"clinic-a","p":"p-9999"}"#);
        let other_key = PageTokens::new(vec![8u8; 32]).unwrap().seal(&a, "p-1002");
        for bad in [
            format!("{forged_payload}.{tag}"),
            format!("{p}.{}", &tag[1..]),
            format!("{p}x.{tag}"),
            other_key,
            "no-dot".into(),
            String::new(),
        ] {
            assert!(
                matches!(tokens().open(&bad, &a), Err(ToolError::NextTokenInvalid)),
                "{bad}"
            );
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(PageTokens::new(vec![1u8; 31]).is_err());
        assert!(PageTokens::from_base64("not base64!").is_err());
    }
}
