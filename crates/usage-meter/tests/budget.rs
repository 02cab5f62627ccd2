//! Token budgets on the DynamoDB stand-in (dynalite): reservations stop at the limit, also when
//! 32 turns of one clinic race for the last tokens; settlements count what was really used;
//! each clinic has its own budget; an alert is claimed once per period.

use std::sync::Arc;

use chrono::NaiveDate;
use tenant_context::{ClinicId, TokenBudget};
use usage_meter::UsageMeter;
use usage_meter::budget::{Period, Reserve, TokenBudgets};

async fn budgets(name: &str) -> TokenBudgets {
    let endpoints = testkit::endpoints_or_panic();
    let table = testkit::dynamo::create_usage_table(&endpoints, name)
        .await
        .expect("create the usage table (is dynalite running? scripts/standins.sh start)");
    TokenBudgets::new(UsageMeter::new(
        testkit::dynamo::client(&endpoints).unwrap(),
        table,
    ))
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

fn clinic(id: &str) -> ClinicId {
    ClinicId::parse(id).unwrap()
}

const DAILY: TokenBudget = TokenBudget {
    daily_tokens: 10_000,
    monthly_tokens: Some(25_000),
};

#[tokio::test]
async fn reservations_stop_at_the_days_limit_and_settlements_count_what_was_used() {
    let b = budgets("budget-basic").await;
    let a = clinic("clinic-a");
    let mut held = Vec::new();
    for _ in 0..4 {
        match b.reserve(&a, DAILY, 2_500, day(7)).await.unwrap() {
            Reserve::Reserved { reservation, .. } => held.push(reservation),
            other => panic!("{other:?}"),
        }
    }
    // 10 000 reserved: the day is full, and the refusal says which period and until when.
    match b.reserve(&a, DAILY, 1, day(7)).await.unwrap() {
        Reserve::Exhausted {
            spent, resets_at, ..
        } => {
            assert_eq!(spent.period, Period::Day);
            assert_eq!((spent.used, spent.limit), (10_000, 10_000));
            assert_eq!(resets_at.to_rfc3339(), "2026-12-08T00:00:00+00:00");
        }
        other => panic!("{other:?}"),
    }
    // The calls used less than their estimates: the difference comes back.
    for r in &held {
        b.settle(r, 1_000).await.unwrap();
    }
    let status = b.status(&a, DAILY, day(7)).await.unwrap();
    assert_eq!((status.day.used, status.day.left()), (4_000, 6_000));
    assert_eq!(status.month.map(|m| m.used), Some(4_000));
    assert!(matches!(
        b.reserve(&a, DAILY, 6_000, day(7)).await.unwrap(),
        Reserve::Reserved { .. }
    ));

    // Another clinic's budget is its own; another day starts from zero.
    assert!(matches!(
        b.reserve(&clinic("clinic-b"), DAILY, 10_000, day(7))
            .await
            .unwrap(),
        Reserve::Reserved { .. }
    ));
    assert!(matches!(
        b.reserve(&a, DAILY, 10_000, day(8)).await.unwrap(),
        Reserve::Reserved { .. }
    ));
    // The month has 20 000 of 25 000: a day's worth no longer fits, and the month says so.
    match b.reserve(&a, DAILY, 9_000, day(9)).await.unwrap() {
        Reserve::Exhausted {
            spent, resets_at, ..
        } => {
            assert_eq!(spent.period, Period::Month);
            assert_eq!(resets_at.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        }
        other => panic!("{other:?}"),
    }
    // An estimate larger than the whole budget is refused without a write.
    assert!(matches!(
        b.reserve(&clinic("clinic-c"), DAILY, 10_001, day(7))
            .await
            .unwrap(),
        Reserve::Exhausted { .. }
    ));
    assert_eq!(
        b.status(&clinic("clinic-c"), DAILY, day(7))
            .await
            .unwrap()
            .day
            .used,
        0
    );
}

/// 32 turns of one clinic at once, each reserving its estimate and using a little more than it
/// (the worst case the estimate allows for): together they never pass the limit by more than
/// one turn's estimate.
#[tokio::test]
async fn thirty_two_concurrent_turns_overshoot_by_at_most_one_estimate() {
    let b = Arc::new(budgets("budget-race").await);
    let a = clinic("clinic-a");
    let budget = TokenBudget {
        daily_tokens: 20_000,
        monthly_tokens: None,
    };
    let estimate = 1_500;
    let turns = (0..32).map(|_| {
        let (b, a) = (b.clone(), a.clone());
        tokio::spawn(async move {
            match b.reserve(&a, budget, estimate, day(7)).await.unwrap() {
                Reserve::Reserved { reservation, .. } => {
                    // Used 10% more than estimated.
                    b.settle(&reservation, estimate + estimate / 10)
                        .await
                        .unwrap();
                    true
                }
                Reserve::Exhausted { .. } => false,
            }
        })
    });
    let admitted = futures::future::join_all(turns)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count() as u64;
    let used = b.status(&a, budget, day(7)).await.unwrap().day.used;
    assert!(admitted >= 1, "no turn was admitted");
    assert!(
        used <= budget.daily_tokens + estimate,
        "{admitted} turns used {used} of {}",
        budget.daily_tokens
    );
    assert_eq!(used, admitted * (estimate + estimate / 10));
    // Nothing is left for a turn of this size.
    assert!(matches!(
        b.reserve(&a, budget, estimate, day(7)).await.unwrap(),
        Reserve::Exhausted { .. }
    ));
}

#[tokio::test]
async fn an_alert_is_claimed_once_per_period_and_can_be_given_back() {
    let b = budgets("budget-alerts").await;
    let a = clinic("clinic-a");
    let alerts = match b.reserve(&a, DAILY, 8_000, day(7)).await.unwrap() {
        Reserve::Reserved { alerts, .. } => alerts,
        other => panic!("{other:?}"),
    };
    // 80% of the day (the month is at 32%).
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(
        (alert.period, alert.percent, alert.period_start.as_str()),
        (Period::Day, 80, "2026-12-07")
    );
    assert!(b.claim(alert, day(7)).await.unwrap());
    assert!(!b.claim(alert, day(7)).await.unwrap(), "claimed twice");
    // Once claimed, the next reservation no longer proposes it.
    match b.reserve(&a, DAILY, 100, day(7)).await.unwrap() {
        Reserve::Reserved { alerts, .. } => assert!(alerts.is_empty(), "{alerts:?}"),
        other => panic!("{other:?}"),
    }
    // A send that failed gives the claim back.
    b.unclaim(alert, day(7)).await.unwrap();
    assert!(b.claim(alert, day(7)).await.unwrap());
    // The refusal carries the 100% alert.
    match b.reserve(&a, DAILY, 5_000, day(7)).await.unwrap() {
        Reserve::Exhausted { alert, .. } => {
            assert_eq!((alert.period, alert.percent), (Period::Day, 100));
            assert!(b.claim(&alert, day(7)).await.unwrap());
        }
        other => panic!("{other:?}"),
    }
}
