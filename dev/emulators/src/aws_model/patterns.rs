//! The models' `pattern` constraints, compiled once each. They are Java regular expressions
//! matched against the whole value (Coral validates with `Matcher.matches()`), so each is
//! anchored here; lookarounds (`(?!...)`) need `fancy-regex`, and Java's POSIX classes
//! (`\p{Print}`, ...) are spelt as ranges for the Rust engines.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub(crate) enum Pattern {
    Plain(regex::Regex),
    Fancy(fancy_regex::Regex),
    /// A pattern neither engine takes: every value is refused, so that a model the emulation
    /// cannot read never makes it more permissive than AWS.
    Unreadable,
}

impl Pattern {
    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Plain(r) => r.is_match(value),
            Pattern::Fancy(r) => r.is_match(value).unwrap_or(false),
            Pattern::Unreadable => false,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Cache(Mutex<HashMap<String, Arc<Pattern>>>);

/// Java's POSIX character classes, which neither Rust engine knows by these names.
const JAVA_CLASSES: [(&str, &str); 8] = [
    (r"\p{Print}", r"[\x20-\x7E]"),
    (r"\p{Graph}", r"[\x21-\x7E]"),
    (r"\p{Alnum}", r"[A-Za-z0-9]"),
    (r"\p{Alpha}", r"[A-Za-z]"),
    (r"\p{Digit}", r"[0-9]"),
    (r"\p{Punct}", r"[!-/:-@\[-`{-~]"),
    (r"\p{ASCII}", r"[\x00-\x7F]"),
    (r"\p{Space}", r"[ \t\n\x0B\f\r]"),
];

impl Cache {
    pub(crate) fn get(&self, pattern: &str) -> Arc<Pattern> {
        if let Ok(cache) = self.0.lock()
            && let Some(p) = cache.get(pattern)
        {
            return p.clone();
        }
        let mut source = pattern.to_owned();
        for (java, rust) in JAVA_CLASSES {
            source = source.replace(java, rust);
        }
        let anchored = format!("^(?:{source})$");
        let compiled = Arc::new(match regex::Regex::new(&anchored) {
            Ok(r) => Pattern::Plain(r),
            Err(_) => match fancy_regex::Regex::new(&anchored) {
                Ok(r) => Pattern::Fancy(r),
                Err(e) => {
                    tracing::error!(pattern, error = %e, "a service model pattern could not be compiled: values under it are refused");
                    Pattern::Unreadable
                }
            },
        });
        if let Ok(mut cache) = self.0.lock() {
            cache.insert(pattern.to_owned(), compiled.clone());
        }
        compiled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_values_with_either_engine() {
        let cache = Cache::default();
        let id = cache.get("[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10}");
        assert!(id.matches("tenantry_basic_memory-AbCdE12345"));
        assert!(!id.matches("tenantry_basic_memory-LOCAL"));
        assert!(!id.matches("x tenantry_basic_memory-AbCdE12345"));
        let lookahead = cache.get("(?!memoryStrategyId$|actorId$|sessionId$)[a-z][a-z0-9]*");
        assert!(lookahead.matches("clinic"));
        assert!(!lookahead.matches("actorId"));
        assert!(!lookahead.matches("actorid2!"));
        let printable = cache.get(r"\p{Print}+");
        assert!(printable.matches("a b"));
        assert!(!printable.matches("a\u{7}"));
        let unicode = cache.get(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*");
        assert!(unicode.matches("Åsa 1"));
        assert!(matches!(*cache.get("(?<=a"), Pattern::Unreadable));
        assert!(!cache.get("(?<=a").matches("a"));
    }
}
