//! Server time in the clinic's timezone, and the business-hours and `request_hour` rules.
//! The server clock decides; the model's idea of the time (which a prompt injection can set)
//! is only ever compared with it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;

use crate::error::ToolError;

/// The time source; tests inject fixed instants.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Debug builds only (release builds, which are what deploys, do not contain it): a clock that
/// reads an RFC 3339 instant from `path` at every call, and the system time when the file is
/// absent or unreadable. The devstack uses it to show business hours at any hour of the day.
#[cfg(debug_assertions)]
pub fn file_clock(path: std::path::PathBuf) -> Clock {
    Arc::new(move || {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
    })
}

/// A clinic's timezone, parsed from its configuration (IANA name).
pub fn timezone(name: &str) -> Result<Tz, ToolError> {
    name.parse::<Tz>()
        .map_err(|_| ToolError::ClinicMisconfigured("timezone"))
}

/// Local time now in `tz`.
pub fn local_now(clock: &Clock, tz: Tz) -> DateTime<Tz> {
    clock().with_timezone(&tz)
}

/// A `request_hour` is accepted only if it is the clinic's local hour now, give or take one
/// minute (a call made at 09:59:59 may arrive at 10:00:00).
pub fn check_request_hour(clock: &Clock, tz: Tz, claimed: u8) -> Result<(), ToolError> {
    let now = clock();
    let plausible = [
        now - Duration::seconds(60),
        now,
        now + Duration::seconds(60),
    ]
    .iter()
    .any(|t| t.with_timezone(&tz).hour() == u32::from(claimed));
    if plausible {
        Ok(())
    } else {
        Err(ToolError::RequestHourSpoofed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Clock {
        let t = Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap();
        Arc::new(move || t)
    }

    #[test]
    fn the_file_clock_reads_its_instant_and_falls_back_to_the_system_time() {
        let path = std::env::temp_dir().join(format!("tenantry-clock-{}", std::process::id()));
        let clock = file_clock(path.clone());
        std::fs::write(&path, "2026-12-01T03:00:00Z\n").unwrap();
        assert_eq!(clock().hour(), 3);
        std::fs::write(&path, "2026-12-01T15:30:00-05:00").unwrap();
        assert_eq!(clock().hour(), 20);
        std::fs::remove_file(&path).unwrap();
        assert!((clock() - Utc::now()).num_seconds().abs() < 5);
    }

    #[test]
    fn local_hour_follows_the_clinic_timezone() {
        let clock = at(2026, 11, 28, 15, 30, 0); // 15:30 UTC
        assert_eq!(
            local_now(&clock, timezone("America/New_York").unwrap()).hour(),
            10
        );
        assert_eq!(
            local_now(&clock, timezone("Australia/Sydney").unwrap()).hour(),
            2
        );
    }

    #[test]
    fn request_hour_must_match_the_server_clock() {
        let ny = timezone("America/New_York").unwrap();
        let clock = at(2026, 11, 28, 15, 30, 0);
        assert!(check_request_hour(&clock, ny, 10).is_ok());
        assert!(matches!(
            check_request_hour(&clock, ny, 14),
            Err(ToolError::RequestHourSpoofed)
        ));
        let edge = at(2026, 11, 28, 14, 59, 30); // 09:59:30 local
        assert!(check_request_hour(&edge, ny, 10).is_ok());
        assert!(check_request_hour(&edge, ny, 9).is_ok());
    }

    #[test]
    fn unknown_timezones_are_a_configuration_error() {
        assert!(timezone("Mars/Olympus_Mons").is_err());
    }
}
