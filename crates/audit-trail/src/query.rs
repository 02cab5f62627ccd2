//! What a reader asks of a clinic's trail: a time range, optionally one patient or one user.
//! The clinic is never part of it: it is the caller's own, from the verified identity.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AuditError;

/// The parameters `GET /audit` takes (anything else is refused, `clinic` included).
pub const QUERY_PARAMETERS: [&str; 6] = ["patient", "user", "from", "to", "limit", "next_token"];
/// Without `from`: this many days back from `to`.
pub const DEFAULT_DAYS: u64 = 7;
/// The widest range one query may cover (the retention is six years; a wider look is many
/// queries, or the provider's `tenant-admin audit`).
pub const MAX_DAYS: i64 = 366;
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
/// Patient ids, users and other identifiers in a query: at most this long.
const MAX_ID_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub patient: Option<String>,
    pub user: Option<String>,
    #[serde(with = "crate::event::millis")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::event::millis")]
    pub to: DateTime<Utc>,
    /// Events per page (a page may hold fewer; see `AuditLog::read`).
    pub limit: u32,
}

impl AuditQuery {
    /// The query from `params` (name, value), with `now` for the defaults; also the page
    /// token, if one was given. Unknown or repeated parameters are refused by name.
    pub fn parse(
        params: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<(Self, Option<String>), AuditError> {
        let mut seen: Vec<&str> = Vec::new();
        for (name, _) in params {
            if !QUERY_PARAMETERS.contains(&name.as_str()) {
                let hint = if name == "clinic" || name == "clinic_id" {
                    ": the trail is always your own clinic's"
                } else {
                    ""
                };
                return Err(AuditError::BadQuery(format!(
                    "unknown parameter `{}`{hint} (use {})",
                    printable(name),
                    QUERY_PARAMETERS.join(", ")
                )));
            }
            if seen.contains(&name.as_str()) {
                return Err(AuditError::BadQuery(format!(
                    "`{name}` is given more than once"
                )));
            }
            seen.push(name);
        }
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        let to = match get("to") {
            Some(v) => instant("to", v, true)?,
            None => now,
        };
        let from = match get("from") {
            Some(v) => instant("from", v, false)?,
            None => to
                .checked_sub_days(Days::new(DEFAULT_DAYS))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        };
        if from > to {
            return Err(AuditError::BadQuery("`from` is after `to`".into()));
        }
        if (to - from).num_days() > MAX_DAYS {
            return Err(AuditError::BadQuery(format!(
                "the range is more than {MAX_DAYS} days: narrow `from` and `to`"
            )));
        }
        let limit = match get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    AuditError::BadQuery(format!("`limit` must be a number from 1 to {MAX_LIMIT}"))
                })?,
        };
        let query = Self {
            patient: get("patient")
                .map(|v| identifier("patient", v))
                .transpose()?,
            user: get("user").map(|v| identifier("user", v)).transpose()?,
            from,
            to,
            limit,
        };
        Ok((query, get("next_token").map(str::to_owned)))
    }

    /// Whether `event` answers this query (the clinic is checked by the reader).
    pub fn matches(&self, event: &crate::AuditEvent) -> bool {
        self.patient
            .as_ref()
            .is_none_or(|p| event.patient_ids.iter().any(|id| id == p))
            && self.user.as_ref().is_none_or(|u| &event.user == u)
            && event.time >= self.from
            && event.time <= self.to
    }
}

/// RFC 3339, or a UTC day (`YYYY-MM-DD`: its start for `from`, its end for `to`).
fn instant(name: &str, value: &str, end_of_day: bool) -> Result<DateTime<Utc>, AuditError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        AuditError::BadQuery(format!(
            "`{name}` must be a UTC day (2026-12-07) or an RFC 3339 time (2026-12-07T09:30:00Z)"
        ))
    })?;
    let time = if end_of_day {
        NaiveTime::from_hms_milli_opt(23, 59, 59, 999)
    } else {
        NaiveTime::from_hms_opt(0, 0, 0)
    }
    .unwrap_or_default();
    Ok(day.and_time(time).and_utc())
}

/// An identifier filter: short, printable, no spaces (every id the trail stores is).
fn identifier(name: &str, value: &str) -> Result<String, AuditError> {
    let ok = value.len() <= MAX_ID_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@+".contains(c));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(AuditError::BadQuery(format!(
            "`{name}` must be an identifier of at most {MAX_ID_LEN} letters, digits or -_.:@+"
        )))
    }
}

/// A parameter name as it may be echoed back: short and printable.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0)
            .single()
            .unwrap()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<(AuditQuery, Option<String>), AuditError> {
        let params: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AuditQuery::parse(&params, now())
    }

    #[test]
    fn defaults_are_the_last_seven_days_fifty_at_a_time() {
        let (q, token) = parse(&[]).unwrap();
        assert_eq!(q.to, now());
        assert_eq!((q.to - q.from).num_days(), 7);
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!((q.patient, q.user, token), (None, None, None));
    }

    #[test]
    fn days_cover_whole_utc_days_and_times_are_exact() {
        let (q, _) = parse(&[("from", "2026-12-07"), ("to", "2026-12-07")]).unwrap();
        assert_eq!(q.from.to_rfc3339(), "2026-12-07T00:00:00+00:00");
        assert_eq!(
            q.to.timestamp_millis() - q.from.timestamp_millis(),
            86_399_999
        );
        let (q, _) = parse(&[("from", "2026-12-07T09:00:00+01:00")]).unwrap();
        assert_eq!(q.from.to_rfc3339(), "2026-12-07T08:00:00+00:00");
    }

    #[test]
    fn a_clinic_cannot_be_named_and_bad_values_are_refused_by_name() {
        for (pairs, says) in [
            (vec![("clinic", "clinic-b")], "always your own clinic"),
            (vec![("clinic_id", "clinic-b")], "always your own clinic"),
            (
                vec![("patient", "p-1"), ("patient", "p-2")],
                "more than once",
            ),
            (vec![("from", "yesterday")], "`from` must be"),
            (
                vec![("from", "2026-12-08"), ("to", "2026-12-07")],
                "after `to`",
            ),
            (vec![("from", "2024-01-01")], "more than 366 days"),
            (vec![("limit", "0")], "`limit`"),
            (vec![("limit", "201")], "`limit`"),
            (vec![("patient", "p 1")], "`patient`"),
            (vec![("user", "\"}")], "`user`"),
        ] {
            let e = parse(&pairs).unwrap_err();
            assert_eq!(e.code(), "bad_query");
            assert!(e.to_string().contains(says), "{pairs:?}: {e}");
        }
    }
}
