//! What every adversarial suite shares (`events/adversarial/`, one file per family): the
//! `$REPEAT{c,n}` marker for oversized input, and the report, one line per case and a closing
//! `N passed, M failed`, that fails the test on any unexpected outcome, on a family that lost its
//! cases, or on one without controls (well-formed calls that must succeed, so a layer that refuses
//! everything cannot pass).

use serde_json::Value;

/// A family file's cases (the file is JSON with a `cases` list; it must parse).
pub fn cases(file: &str) -> Vec<Value> {
    let parsed: Value = serde_json::from_str(file).expect("the case file is JSON");
    parsed["cases"].as_array().cloned().expect("a `cases` list")
}

/// `$REPEAT{c,n}`: `c` repeated `n` times.
pub fn expand_repeats(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find("$REPEAT{") {
        let Some(len) = out[start..].find('}') else {
            break;
        };
        let end = start + len + 1;
        let repeated = out[start + 8..end - 1]
            .split_once(',')
            .and_then(|(c, n)| n.parse().ok().map(|n| c.repeat(n)))
            .unwrap_or_default();
        out.replace_range(start..end, &repeated);
    }
    out
}

/// The outcomes of one family's cases.
#[derive(Default)]
pub struct Report {
    passed: usize,
    failed: Vec<String>,
}

impl Report {
    /// Prints the case's line: `ok` with what happened, or `FAIL` with why.
    pub fn record(&mut self, name: &str, verdict: Result<String, String>) {
        match verdict {
            Ok(what) => {
                self.passed += 1;
                println!("ok    {name}: {what}");
            }
            Err(why) => {
                println!("FAIL  {name}: {why}");
                self.failed.push(name.to_owned());
            }
        }
    }

    /// The closing line, then the family's checks: at least `min_cases` cases, at least one
    /// control (`is_control`), and no unexpected outcome.
    pub fn finish(self, cases: &[Value], min_cases: usize, is_control: impl Fn(&Value) -> bool) {
        println!("{} passed, {} failed", self.passed, self.failed.len());
        assert!(cases.len() >= min_cases, "the family keeps its cases");
        assert!(
            cases.iter().any(is_control),
            "controls: a layer that refuses everything must not pass"
        );
        assert!(
            self.failed.is_empty(),
            "unexpected outcomes: {:?}",
            self.failed
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeats_expand_in_place() {
        assert_eq!(super::expand_repeats("a$REPEAT{b,3}c"), "abbbc");
        assert_eq!(super::expand_repeats("$REPEAT{x,0}"), "");
        assert_eq!(super::expand_repeats("no marker"), "no marker");
    }
}
