//! Typed configuration from the environment, read the same way by every binary.
//!
//! Each binary reads its variables once, at start-up, through a lookup function (the process
//! environment in `main`, a map in tests). What several binaries read alike lives here, so the
//! rules cannot drift apart between them: which endpoints may be plain HTTP, what a number or a
//! duration in seconds may be. Errors name the variable and the rule, never the value (a
//! variable can hold a key).

use std::ops::RangeInclusive;
use std::time::Duration;

/// A variable that does not meet its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var} {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

/// The variable's value, if set and not blank (trimmed).
pub fn set(get: &impl Fn(&str) -> Option<String>, var: &str) -> Option<String> {
    get(var)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// An endpoint that is `https://`, or `http://` to a loopback host (127.0.0.0/8, `[::1]`,
/// `localhost`): plain HTTP is for the local stand-ins only, never across a network.
pub fn secure_endpoint(var: &'static str, raw: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| ConfigError::new(var, "is not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(ConfigError::new(
            var,
            "must be https:// (http:// only to a loopback host)",
        )),
    }
}

/// A positive whole number; `default` when unset or blank.
pub fn positive_number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    match set(get, var) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ConfigError::new(var, "must be a positive whole number")),
    }
}

/// Whole seconds within `range`; `default` when unset or blank.
pub fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
    range: RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    let Some(v) = set(get, var) else {
        return Ok(default);
    };
    let secs = v
        .parse::<u64>()
        .map_err(|_| ConfigError::new(var, "must be a whole number of seconds"))?;
    check_seconds(var, secs, range)
}

/// `secs` within `range`, as a duration.
pub fn check_seconds(
    var: &'static str,
    secs: u64,
    range: RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    if range.contains(&secs) {
        Ok(Duration::from_secs(secs))
    } else {
        Err(ConfigError::new(
            var,
            format!("must be {} to {} seconds", range.start(), range.end()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn endpoints_are_https_or_plain_http_to_loopback_only() {
        for ok in [
            "https://bedrock-agentcore.us-east-1.amazonaws.com",
            "https://10.0.0.1:8443/path",
            "http://127.0.0.1:9000",
            "http://127.1.2.3",
            "http://[::1]:4318/v1/traces",
            "http://localhost:8080",
            "http://LOCALHOST",
        ] {
            assert!(secure_endpoint("V", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://collector.example/v1/traces",
            "http://localhost.example.com",
            "http://[::2]",
            "ftp://127.0.0.1",
            "not a url",
            "",
        ] {
            let e = secure_endpoint("V", bad).expect_err(bad);
            assert_eq!(e.var, "V");
        }
    }

    #[test]
    fn numbers_and_seconds_name_the_variable_and_never_the_value() {
        let get = env(&[("N", " 7 "), ("Z", "0"), ("X", "seven"), ("B", "  ")]);
        assert_eq!(positive_number(&get, "N", 1), Ok(7));
        assert_eq!(positive_number(&get, "B", 3), Ok(3), "blank is unset");
        assert_eq!(positive_number(&get, "UNSET", 3), Ok(3));
        for var in ["Z", "X"] {
            let e = positive_number(&get, var, 1).unwrap_err();
            assert_eq!(e.var, var);
            assert!(!e.to_string().contains("seven"));
        }
        let d = Duration::from_secs(60);
        assert_eq!(seconds(&get, "N", d, 1..=10), Ok(Duration::from_secs(7)));
        assert_eq!(seconds(&get, "UNSET", d, 1..=10), Ok(d));
        assert!(seconds(&get, "N", d, 900..=3600).is_err());
        assert!(seconds(&get, "X", d, 1..=10).is_err());
    }
}
