//! The counters on the DynamoDB stand-in (dynalite): they add up, stay per clinic and per day,
//! and a read names one clinic only.

use chrono::NaiveDate;
use tenant_context::{ClinicId, TierCatalog, TierName};
use usage_meter::UsageMeter;

async fn meter() -> UsageMeter {
    let endpoints = testkit::endpoints_or_panic();
    let table = testkit::dynamo::create_usage_table(&endpoints, "usage-test")
        .await
        .expect("create the usage table (is dynalite running? scripts/standins.sh start)");
    UsageMeter::new(testkit::dynamo::client(&endpoints).unwrap(), table)
}

fn basic_tier() -> TierName {
    TierCatalog::embedded().unwrap().tier("basic").unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

#[tokio::test]
async fn counters_add_up_per_clinic_and_day_and_a_read_sees_one_clinic() {
    let m = meter().await;
    let basic = basic_tier();
    let a = ClinicId::parse("clinic-a").unwrap();
    let b = ClinicId::parse("clinic-b").unwrap();
    for _ in 0..3 {
        m.count_request(&basic, &a, day(2)).await.unwrap();
    }
    m.count_request(&basic, &a, day(1)).await.unwrap();
    m.add_turn(&basic, &a, day(2), 100, 20, 0.000_012)
        .await
        .unwrap();
    m.add_turn(&basic, &a, day(2), 50, 5, 0.000_005_5)
        .await
        .unwrap();
    // Another clinic's busy day, to be sure it never shows up in clinic-a's rows.
    for _ in 0..7 {
        m.count_request(&basic, &b, day(2)).await.unwrap();
    }
    m.add_turn(&basic, &b, day(2), 9_999, 9_999, 1.0)
        .await
        .unwrap();

    let rows = m.days(&a, day(1), day(2)).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0].day.as_str(), rows[0].requests), ("2026-12-01", 1));
    let today = &rows[1];
    assert_eq!(today.day, "2026-12-02");
    assert_eq!(
        (
            today.requests,
            today.turns,
            today.input_tokens,
            today.output_tokens
        ),
        (3, 2, 150, 25)
    );
    assert!(
        (today.estimated_cost - 0.000_017_5).abs() < 1e-12,
        "{today:?}"
    );

    let only_b = m.days(&b, day(1), day(2)).await.unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].requests, 7);
    // A day range outside the used days is empty, not an error.
    assert!(m.days(&a, day(10), day(12)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_read_is_bounded_and_a_missing_table_is_a_typed_error() {
    let m = meter().await;
    let a = ClinicId::parse("clinic-a").unwrap();
    let long = m
        .days(&a, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), day(2))
        .await;
    assert!(matches!(long, Err(usage_meter::UsageError::SpanTooLong)));

    let endpoints = testkit::endpoints_or_panic();
    let gone = UsageMeter::new(
        testkit::dynamo::client(&endpoints).unwrap(),
        "no-such-table",
    );
    let err = gone
        .count_request(&basic_tier(), &a, day(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, usage_meter::UsageError::Store { op: "updated", .. }),
        "{err}"
    );
}

/// The per-user turn limit: exactly `limit` turns a minute, also when they race (several
/// microVMs at once), per user, and a new minute starts afresh.
#[tokio::test]
async fn the_turn_limit_admits_exactly_its_count_per_user_and_minute() {
    use chrono::{DateTime, Utc};
    use usage_meter::turn_limit::{Admission, TurnLimit};
    let m = meter().await;
    let limit = TurnLimit::new(m.clone(), 3).expect("a limit");
    assert!(TurnLimit::new(m.clone(), 0).is_none(), "0 means no limit");
    let a = ClinicId::parse("clinic-a").unwrap();
    let me = tenant_context::UserKey::parse("user-one").unwrap();
    let other = tenant_context::UserKey::parse("user-two").unwrap();
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let now = at("2026-12-06T14:05:10Z");
    let racing = (0..10).map(|_| limit.admit(&a, &me, now));
    let outcomes = futures::future::join_all(racing).await;
    let admitted = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Admission::Admitted)))
        .count();
    assert_eq!(admitted, 3, "{outcomes:?}");
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(
        limit.admit(&a, &me, now).await.unwrap(),
        Admission::Limited {
            retry_after_secs: 50
        }
    );
    assert_eq!(
        limit.admit(&a, &other, now).await.unwrap(),
        Admission::Admitted,
        "another user has a minute of their own"
    );
    assert_eq!(
        limit
            .admit(&a, &me, at("2026-12-06T14:06:00Z"))
            .await
            .unwrap(),
        Admission::Admitted,
        "the next minute starts afresh"
    );
    // The clinic's day rows are untouched by the minute items.
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    assert!(m.days(&a, day, day).await.unwrap().is_empty());
}
