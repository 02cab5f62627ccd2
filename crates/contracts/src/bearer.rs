//! The caller's one ID token. Every layer that reads it (the authorizer and the proxy from
//! `Authorization: Bearer`, the agent from the Runtime's allow-listed custom header) reads it
//! the same way, so no two layers can look at different tokens of one request.

use http::HeaderMap;
use http::header::AUTHORIZATION;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("missing Bearer token (send `Authorization: Bearer <ID token>`)")]
    Missing,
    /// Two layers could each read a different one.
    #[error("more than one Authorization header (send exactly one)")]
    Several,
}

/// The token of the request's one `Authorization: Bearer <token>` header. The scheme is
/// case-insensitive (RFC 9110 §11.1); surrounding blanks are ignored; an empty token, another
/// scheme or a value that is not visible ASCII is [`BearerError::Missing`].
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    crate::headers::at_most_one(headers, AUTHORIZATION.as_str())
        .map_err(|_| BearerError::Several)?
        .ok_or(BearerError::Missing)?
        .to_str()
        .ok()
        .and_then(parse)
        .ok_or(BearerError::Missing)
}

/// The caller's ID token as the Runtime hands it to the agent: the one value of the
/// allow-listed [`crate::headers::RUNTIME_ID_TOKEN`] (the Runtime is on IAM inbound auth, so
/// `Authorization` carries the proxy's signature and is not passed on). The raw token, no
/// scheme; surrounding blanks are ignored; empty or not visible ASCII is
/// [`BearerError::Missing`].
pub fn runtime_id_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    crate::headers::at_most_one(headers, crate::headers::RUNTIME_ID_TOKEN)
        .map_err(|_| BearerError::Several)?
        .ok_or(BearerError::Missing)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.contains(' '))
        .ok_or(BearerError::Missing)
}

/// The token of one `Bearer <token>` value (a TOKEN authorizer's `authorizationToken`).
pub fn parse(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The header value that carries `token`.
pub fn authorization(token: &str) -> String {
    format!("Bearer {token}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn exactly_one_runtime_id_token_and_no_scheme() {
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(crate::headers::RUNTIME_ID_TOKEN, v.parse().unwrap());
            }
            h
        };
        assert_eq!(runtime_id_token(&with(&[])), Err(BearerError::Missing));
        assert_eq!(runtime_id_token(&with(&[" abc "])), Ok("abc"));
        assert_eq!(runtime_id_token(&with(&[""])), Err(BearerError::Missing));
        assert_eq!(
            runtime_id_token(&with(&["Bearer abc"])),
            Err(BearerError::Missing)
        );
        assert_eq!(
            runtime_id_token(&with(&["abc", "abc"])),
            Err(BearerError::Several)
        );
        // `Authorization` is not where the agent looks.
        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(runtime_id_token(&h), Err(BearerError::Missing));
    }

    #[test]
    fn exactly_one_bearer_token() {
        assert_eq!(bearer_token(&headers(&[])), Err(BearerError::Missing));
        assert_eq!(bearer_token(&headers(&["Bearer abc"])), Ok("abc"));
        assert_eq!(bearer_token(&headers(&["bearer  abc "])), Ok("abc"));
        assert_eq!(
            bearer_token(&headers(&["Bearer abc", "Bearer def"])),
            Err(BearerError::Several)
        );
        // The same token twice is still two headers.
        assert_eq!(
            bearer_token(&headers(&["Bearer abc", "Bearer abc"])),
            Err(BearerError::Several)
        );
        for other in ["Basic abc", "Bearer", "Bearer ", "abc", "Bearerabc"] {
            assert_eq!(
                bearer_token(&headers(&[other])),
                Err(BearerError::Missing),
                "{other}"
            );
        }
    }

    #[test]
    fn a_value_read_from_an_event_is_parsed_the_same_way() {
        assert_eq!(parse("Bearer a.b.c"), Some("a.b.c"));
        assert_eq!(parse("BEARER a.b.c"), Some("a.b.c"));
        assert_eq!(parse("Bearer "), None);
        assert_eq!(parse("Token a.b.c"), None);
    }

    proptest! {
        #[test]
        fn what_authorization_writes_bearer_token_reads_back(token in "[A-Za-z0-9._~+/=-]{1,200}") {
            let value = authorization(&token);
            let h = headers(&[&value]);
            prop_assert_eq!(bearer_token(&h), Ok(token.as_str()));
        }
    }
}
