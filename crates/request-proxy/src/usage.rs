//! `GET /usage`: the caller's own clinic's day. Every role sees how many of the tier's daily
//! requests are left and when the quota starts again; roles the tier file lets see usage
//! (`sees_usage`, the clinic admin) also see requests, tokens and estimated cost of the last
//! seven days. The clinic is the authorizer's, never a query parameter: there is no way to name
//! another clinic here.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{Days, NaiveDate};
use serde::Serialize;
use tenant_context::{QuotaPeriod, TenantContext, TierCatalog};
use usage_meter::budget::{BudgetStatus, TokenBudgets};
use usage_meter::{DayUsage, UsageMeter};

use crate::caller::{Caller, Refusal};
use crate::deps::Deps;
use crate::error::ProxyError;

/// How many days (today included) the usage panel shows.
pub const PANEL_DAYS: u64 = 7;

#[derive(Debug, Serialize)]
pub struct UsageReply {
    pub clinic_id: String,
    pub tier: String,
    pub role: String,
    /// UTC, `YYYY-MM-DD`.
    pub today: String,
    pub quota: QuotaReply,
    /// The clinic's token budget: used and left today (and this month, when the tier has a
    /// monthly budget), and when each starts again.
    pub tokens: BudgetStatus,
    /// Only for roles that see usage; oldest first, days without use left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<DayUsage>>,
    pub currency: String,
}

#[derive(Debug, Serialize)]
pub struct QuotaReply {
    pub limit: u32,
    pub period: QuotaPeriod,
    /// Requests counted so far in this period. Only for daily quotas (the counters are per
    /// day); `null` for weekly or monthly ones.
    pub used: Option<u64>,
    pub remaining: Option<u64>,
    /// When the period ends and the quota starts again (RFC 3339, UTC).
    pub resets_at: Option<String>,
}

pub async fn serve(State(deps): State<Arc<Deps>>, caller: Caller) -> Response {
    let tenant = &caller.tenant;
    let result = match deps.usage.as_ref() {
        Some(meter) => {
            build(
                meter,
                &deps.catalog,
                deps.registry.as_ref(),
                tenant,
                usage_meter::utc_today(),
            )
            .await
        }
        None => Err(ProxyError::UsageNotConfigured),
    };
    match result {
        Ok(r) => ([(header::CACHE_CONTROL, "no-store")], Json(r)).into_response(),
        Err(e) => Refusal::of(tenant)(e).into_response(),
    }
}

/// The reply for `tenant` on `today`: reads that clinic's rows only.
pub async fn build(
    meter: &UsageMeter,
    catalog: &TierCatalog,
    registry: Option<&tenant_registry::TenantRegistry>,
    tenant: &TenantContext,
    today: NaiveDate,
) -> Result<UsageReply, ProxyError> {
    let tier = catalog
        .config(tenant.tier())
        // The tenant came from this catalog, so its tier is in it.
        .map_err(|_| ProxyError::NoRuntimeForTier)?;
    let sees_usage = catalog.role_sees_usage(tenant.role());
    let from = if sees_usage {
        today
            .checked_sub_days(Days::new(PANEL_DAYS - 1))
            .unwrap_or(today)
    } else {
        today
    };
    // The clinic's own budget when the provider set one (`tenant-admin set-budget`), else the
    // tier's; read beside the days, then the budget item against it.
    let own_budget = async {
        match registry {
            Some(r) => r
                .get(tenant.clinic_id())
                .await
                .map(|row| row.and_then(|row| row.token_budget)),
            None => Ok(None),
        }
    };
    let (days, own_budget) = tokio::join!(meter.days(tenant.clinic_id(), from, today), own_budget);
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, clinic_id = %tenant.clinic_id(), "usage read failed");
        ProxyError::UsageUnavailable
    };
    let days = days.map_err(|e| unavailable(&e))?;
    let budget = own_budget
        .map_err(|e| unavailable(&e))?
        .unwrap_or(tier.token_budget);
    let tokens = TokenBudgets::new(meter.clone())
        .status(tenant.clinic_id(), budget, today)
        .await
        .map_err(|e| unavailable(&e))?;
    let today_key = usage_meter::day_key(today);
    let used_today = days
        .iter()
        .find(|d| d.day == today_key)
        .map_or(0, |d| d.requests);
    let quota = &tier.usage_plan.quota;
    let daily = quota.period == QuotaPeriod::Day;
    Ok(UsageReply {
        clinic_id: tenant.clinic_id().to_string(),
        tier: tenant.tier().to_string(),
        role: tenant.role().to_string(),
        today: today_key,
        quota: QuotaReply {
            limit: quota.limit,
            period: quota.period,
            used: daily.then_some(used_today),
            remaining: daily.then(|| u64::from(quota.limit).saturating_sub(used_today)),
            resets_at: daily.then(|| {
                usage_meter::day_end(today).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }),
        },
        tokens,
        days: sees_usage.then_some(days),
        currency: tier.pricing.currency.clone(),
    })
}
