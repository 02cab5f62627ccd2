//! One tool call, end to end, in three steps: `authorise` (read the Gateway call, establish the
//! tenant from the verified ID token propagated in `X-Id-Token`, cross-checked with the tenant
//! headers and the target's tier, parse the arguments, check the tier's tools and the user's
//! role), then `run_tool` (the clinic's clock rules, then the tool on the clinic's rows, behind
//! `ClinicRows`), which shapes the reply. `serve` joins them with the tenant's scoped
//! DynamoDB client.

use std::sync::Arc;

use chrono::Timelike;
use scoped_credentials::{CredentialCache, Issuer, Scope, TenantCredentialsProvider};
use serde_json::{Value, json};
use tenant_context::{TenantContext, TierConfig, TokenKey, TokenVerifier};

use crate::clock::{self, Clock};
use crate::data::{ClinicRows, Tables, TenantData};
use crate::documents::{self, KnowledgeBases};
use crate::error::ToolError;
use crate::gateway::GatewayCall;
use crate::page_token::PageTokens;
use crate::runtime::Invocation;
use crate::tools::{DEFAULT_DOCUMENT_RESULTS, DEFAULT_PAGE_SIZE, ToolCall};
use crate::web_search::WebSearch;

/// The allow-listed header that carries the caller's Cognito ID token to this target.
use contracts::headers::ID_TOKEN as HEADER_ID_TOKEN;

/// Built once per execution environment.
pub struct Deps {
    pub verifier: TokenVerifier,
    pub credentials: Arc<CredentialCache<Issuer>>,
    /// Region and endpoint for DynamoDB clients; credentials are always the tenant's.
    pub sdk: aws_types::SdkConfig,
    pub tables: Tables,
    pub page_tokens: PageTokens,
    pub clock: Clock,
    /// Knowledge Base Retrieve, with this function's own role (the only one allowed to).
    pub documents: documents::DocumentsClient,
    pub knowledge_bases: KnowledgeBases,
    pub web_search: WebSearch,
    /// The tenant DynamoDB clients, one per caller's token (see `clients.rs`).
    pub clients: crate::clients::TenantClients,
    /// Whether the caller's clinic is served (the registry, with the authorizer's short
    /// cache, read with this function's own role): a token that outlives its clinic's
    /// suspension opens nothing here either.
    pub served: tenant_registry::ServedTenants,
    /// The PHI access audit trail, written with this function's own role.
    pub audit: audit_trail::AuditLog,
}

/// The reply for one invocation: the tool's JSON, or `{"error": {"code", "message"}}`.
pub async fn handle(inv: Invocation, deps: Arc<Deps>) -> Value {
    // Set once the caller's tenant is verified, so a later refusal is attributed to it.
    let mut verified: Option<Verified> = None;
    let result = serve(&inv, &deps, &mut verified).await;
    // Patient data leaves only once its access is recorded (see `audit`).
    let result = crate::audit::record(&inv, &deps.audit, verified.as_ref(), result).await;
    let verified = verified.map(|v| v.tenant);
    match result {
        Ok(reply) => reply,
        Err(e) => {
            tracing::info!(
                request_id = %inv.request_id,
                code = e.code(),
                tier = verified.as_ref().map(|t| tracing::field::display(t.tier())),
                clinic_id = verified.as_ref().map(|t| tracing::field::display(t.clinic_id())),
                "tool call refused"
            );
            e.to_reply()
        }
    }
}

/// Whether the call needs the clinic's row: the tools that answer from it, a claimed hour to
/// check against the clinic's clock, or a tool under the tier's business hours.
fn clinic_needed(tool: &ToolCall, tier: &TierConfig) -> bool {
    matches!(tool, ToolCall::ClinicConfig(_) | ToolCall::CurrentTime(_))
        || tool.request_hour().is_some()
        || tier
            .business_hours
            .as_ref()
            .is_some_and(|b| b.tools.iter().any(|t| t == tool.name()))
}

/// The caller as verified, and the tool the Gateway named (read once, for the audit trail).
pub struct Verified {
    pub tenant: TenantContext,
    pub tool: String,
    /// The runtime session's short hash, as the agent passed it on (checked for form only).
    pub session: Option<String>,
}

async fn serve(
    inv: &Invocation,
    deps: &Deps,
    verified: &mut Option<Verified>,
) -> Result<Value, ToolError> {
    let call = authorise(inv, deps, verified).await?;
    // The caller's own client: its credentials are vended for this token's tenant only.
    let ddb = deps.clients.get_or_build(call.token_key, || {
        let provider = TenantCredentialsProvider::new(
            deps.credentials.clone(),
            &call.token,
            call.tenant.clone(),
            Scope::Data,
        );
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&deps.sdk)
                .credentials_provider(provider)
                .build(),
        )
    });
    let rows = TenantData {
        ddb,
        tables: &deps.tables,
        clinic: call.tenant.clinic_id(),
    };
    tracing::info!(
        request_id = %inv.request_id,
        tier = %call.tenant.tier(),
        clinic_id = %call.tenant.clinic_id(),
        tool = call.tool.name(),
        "tool call"
    );
    run_tool(&call, &rows, &ToolEnv::of(deps)).await
}

/// A call that passed every check of who may do what: the verified tenant, its tier's rules,
/// the parsed tool, and the token its credentials are vended for.
pub struct Authorised {
    tenant: TenantContext,
    tier: TierConfig,
    tool: ToolCall,
    token: String,
    /// The token's key, computed once by the verifier.
    token_key: TokenKey,
}

/// The Gateway call read, the tenant established (`tenant`), the arguments parsed, and the
/// tool allowed for the tenant's tier and the user's role.
async fn authorise(
    inv: &Invocation,
    deps: &Deps,
    verified: &mut Option<Verified>,
) -> Result<Authorised, ToolError> {
    let call = GatewayCall::from_client_context(inv.client_context.as_deref())?;
    let (tenant, token_key) = tenant(&call, deps).await?;
    *verified = Some(Verified {
        tenant: tenant.clone(),
        tool: call.tool.clone(),
        session: None,
    });
    let session = call.session_hash()?;
    if let Some(v) = verified.as_mut() {
        v.session = session.map(str::to_owned);
    }
    deps.served
        .check(tenant.clinic_id(), tenant.tier())
        .await
        .map_err(|e| match e {
            tenant_registry::NotServed::Closed => ToolError::TenantNotServed,
            tenant_registry::NotServed::Unavailable => ToolError::Unavailable,
        })?;
    let event: Value = serde_json::from_slice(&inv.payload)
        .map_err(|_| ToolError::InvalidArguments("the arguments are not JSON".into()))?;
    let tool = ToolCall::parse(&call.tool, &event)?;

    let catalog = deps.verifier.catalog();
    let tier = catalog
        .config(tenant.tier())
        .map_err(|_| ToolError::TierNotConfigured)?;
    if !tier.allows_tool(tool.name()) {
        return Err(ToolError::ToolNotInTier);
    }
    // The user's role (from the verified token) must allow it too: admins manage the clinic
    // and never read patient records. The Gateway's Cedar policies apply the same table.
    if !catalog.role_allows(tenant.role(), tool.name()) {
        return Err(ToolError::ToolNotForRole);
    }
    Ok(Authorised {
        tier: tier.clone(),
        token: call.header(HEADER_ID_TOKEN).unwrap_or_default().to_owned(),
        token_key,
        tenant,
        tool,
    })
}

/// What the tools use besides the clinic's rows.
pub struct ToolEnv<'a> {
    pub clock: &'a Clock,
    pub page_tokens: &'a PageTokens,
    pub documents: &'a documents::DocumentsClient,
    pub knowledge_bases: &'a KnowledgeBases,
    pub web_search: &'a WebSearch,
}

impl<'a> ToolEnv<'a> {
    fn of(deps: &'a Deps) -> Self {
        Self {
            clock: &deps.clock,
            page_tokens: &deps.page_tokens,
            documents: &deps.documents,
            knowledge_bases: &deps.knowledge_bases,
            web_search: &deps.web_search,
        }
    }
}

/// Runs an authorised call: the clinic's clock rules (business hours, a claimed hour), then the
/// tool on the clinic's rows, shaped as the reply.
async fn run_tool(
    call: &Authorised,
    rows: &impl ClinicRows,
    env: &ToolEnv<'_>,
) -> Result<Value, ToolError> {
    let (tenant, tier, tool) = (&call.tenant, &call.tier, &call.tool);
    // The clinic's row (its timezone, its name) is read only when a rule or the tool needs it:
    // premium patient records and documents without a claimed hour make no such read.
    let local = if clinic_needed(tool, tier) {
        let clinic = rows.clinic_record().await?;
        let tz = clock::timezone(&clinic.timezone)?;
        // The model's idea of the hour is checked first, so a spoofed hour is named as such.
        if let Some(claimed) = tool.request_hour() {
            clock::check_request_hour(env.clock, tz, claimed)?;
        }
        let now = clock::local_now(env.clock, tz);
        // In 0-23 by construction; the server's clock decides for every tool under business
        // hours.
        if !tier.allows_tool_at(tool.name(), now.hour() as u8) {
            let (start, end) = tier
                .business_hours
                .as_ref()
                .map_or((0, 24), |b| (b.start_hour, b.end_hour));
            return Err(ToolError::OutsideBusinessHours { start, end });
        }
        Some((clinic, now))
    } else {
        None
    };
    let clinic_row = || {
        local
            .as_ref()
            .ok_or(ToolError::ClinicMisconfigured("no clinic row read"))
    };

    match tool {
        ToolCall::PatientContext(args) => {
            if let Some(id) = &args.patient_id {
                return Ok(json!({ "patient": rows.patient(id).await? }));
            }
            let after = args
                .next_token
                .as_deref()
                .map(|t| env.page_tokens.open(t, tenant.clinic_id()))
                .transpose()?;
            let (patients, last) = rows
                .patients(args.limit.unwrap_or(DEFAULT_PAGE_SIZE), after)
                .await?;
            Ok(json!({
                "count": patients.len(),
                "patients": patients,
                "next_token": last.map(|l| env.page_tokens.seal(tenant.clinic_id(), &l)),
            }))
        }
        ToolCall::ClinicConfig(_) => {
            let (clinic, _) = clinic_row()?;
            Ok(json!({
                "clinic": {
                    "clinic_id": clinic.clinic_id,
                    "name": clinic.name,
                    "tier": tenant.tier().as_str(),
                    "timezone": clinic.timezone,
                    "tools": tier.tools,
                    "business_hours": tier.business_hours.as_ref().map(|b| json!({
                        "start": format!("{:02}:00", b.start_hour),
                        "end": format!("{:02}:00", b.end_hour),
                        "tools": b.tools,
                    })),
                }
            }))
        }
        ToolCall::CurrentTime(_) => {
            let (clinic, now) = clinic_row()?;
            Ok(json!({
                "timezone": clinic.timezone,
                "local_time": now.to_rfc3339(),
                "hour": now.hour(),
            }))
        }
        ToolCall::RetrieveClinicDocuments(args) => {
            let passages = documents::retrieve(
                env.documents.get(),
                env.knowledge_bases,
                tenant,
                &args.query,
                args.max_results.unwrap_or(DEFAULT_DOCUMENT_RESULTS),
            )
            .await?;
            Ok(json!({ "count": passages.len(), "documents": passages }))
        }
        ToolCall::WebSearch(args) => {
            let results = env
                .web_search
                .search(
                    &args.query,
                    args.max_results.unwrap_or(DEFAULT_DOCUMENT_RESULTS),
                )
                .await?;
            Ok(json!({ "count": results.len(), "results": results }))
        }
    }
}

/// The tenant, from the verified ID token only; the tenant headers must agree with it and the
/// target must serve its tier. Disagreements are security events (logged with ids only).
async fn tenant(call: &GatewayCall, deps: &Deps) -> Result<(TenantContext, TokenKey), ToolError> {
    let token = call
        .header(HEADER_ID_TOKEN)
        .ok_or(ToolError::Unauthenticated(
            tenant_context::Error::MissingHeader(HEADER_ID_TOKEN),
        ))?;
    let verified = deps.verifier.verify(token).await.map_err(|e| {
        if e.is_retryable() {
            tracing::error!(code = e.code(), "identity provider unavailable");
            ToolError::Unavailable
        } else {
            tracing::warn!(security_event = "token_refused", code = e.code(), target = %call.target, tool = %call.tool);
            ToolError::Unauthenticated(e)
        }
    })?;
    let tenant = TenantContext::from_propagated_headers(call.headers.iter(), &verified.context)
        .map_err(|e| {
            tracing::warn!(
                security_event = "tenant_header_mismatch",
                code = e.code(),
                detail = %e,
                token_tier = %verified.context.tier(),
                token_clinic_id = %verified.context.clinic_id(),
                user_id = %verified.context.user(),
                target = %call.target,
                tool = %call.tool,
            );
            ToolError::TenantHeaderMismatch(e)
        })?;
    let catalog = deps.verifier.catalog();
    let target_tier = catalog
        .tier_of_gateway_target(&call.target)
        .ok_or(ToolError::UnknownTarget)?;
    if target_tier != tenant.tier() {
        tracing::warn!(
            security_event = "target_tier_mismatch",
            token_tier = %tenant.tier(),
            target_tier = %target_tier,
            clinic_id = %tenant.clinic_id(),
            user_id = %tenant.user(),
            target = %call.target,
        );
        return Err(ToolError::TargetTierMismatch);
    }
    Ok((tenant, verified.key))
}

/// The tool logic on an in-memory clinic: no stand-ins, no network.
#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::{TimeZone, Utc};
    use tenant_context::TierCatalog;

    use super::*;
    use crate::data::{ClinicRecord, Patient};

    /// One clinic's rows; counts the reads of its configuration row.
    struct Rows {
        clinic: Option<ClinicRecord>,
        patients: Vec<Patient>,
        clinic_reads: AtomicUsize,
    }

    impl ClinicRows for Rows {
        async fn patient(&self, patient_id: &str) -> Result<Patient, ToolError> {
            self.patients
                .iter()
                .find(|p| p.patient_id == patient_id)
                .cloned()
                .ok_or(ToolError::PatientNotFound)
        }
        async fn patients(
            &self,
            limit: u32,
            after: Option<String>,
        ) -> Result<(Vec<Patient>, Option<String>), ToolError> {
            let rest: Vec<Patient> = self
                .patients
                .iter()
                .filter(|p| after.as_deref().is_none_or(|a| p.patient_id.as_str() > a))
                .cloned()
                .collect();
            let page: Vec<Patient> = rest.iter().take(limit as usize).cloned().collect();
            let last = (rest.len() > page.len())
                .then(|| page.last().map(|p| p.patient_id.clone()))
                .flatten();
            Ok((page, last))
        }
        async fn clinic_record(&self) -> Result<ClinicRecord, ToolError> {
            self.clinic_reads.fetch_add(1, Ordering::SeqCst);
            self.clinic
                .clone()
                .ok_or(ToolError::ClinicMisconfigured("clinic record"))
        }
    }

    fn rows(clinic: &str, timezone: &str) -> Rows {
        let patient = |id: &str| Patient {
            patient_id: id.into(),
            name: format!("Patient {id}"),
            date_of_birth: "1970-01-01".into(),
            conditions: vec![],
            allergies: vec![],
            last_visit: "2026-11-01".into(),
        };
        Rows {
            clinic: Some(ClinicRecord {
                clinic_id: clinic.into(),
                name: format!("{clinic} clinic"),
                tier: "basic".into(),
                timezone: timezone.into(),
            }),
            patients: vec![patient("p-1"), patient("p-2"), patient("p-3")],
            clinic_reads: AtomicUsize::new(0),
        }
    }

    fn call(tier: &str, clinic: &str, tool: &str, args: Value) -> Authorised {
        let catalog = TierCatalog::embedded().unwrap();
        let tenant = TenantContext::parse(&catalog, tier, clinic, "u-1", "clinician").unwrap();
        Authorised {
            tier: catalog.config(tenant.tier()).unwrap().clone(),
            tool: ToolCall::parse(tool, &args).unwrap(),
            token: String::new(),
            token_key: TokenKey::of(""),
            tenant,
        }
    }

    struct Env {
        clock: Clock,
        page_tokens: PageTokens,
        documents: documents::DocumentsClient,
        knowledge_bases: KnowledgeBases,
        web_search: WebSearch,
    }

    /// The clinic's clock reads `utc_hour`:30 UTC on 2026-11-27.
    fn env(utc_hour: u32) -> Env {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 27, utc_hour, 30, 0)
            .single()
            .unwrap();
        let config = aws_sdk_bedrockagentruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockagentruntime::config::BehaviorVersion::latest())
            .region(aws_sdk_bedrockagentruntime::config::Region::new(
                "us-east-1",
            ))
            .build();
        Env {
            clock: Arc::new(move || now),
            page_tokens: PageTokens::new(b"unit-test page token key, 32 bytes+".to_vec()).unwrap(),
            documents: documents::DocumentsClient::Ready(
                aws_sdk_bedrockagentruntime::Client::from_conf(config),
            ),
            knowledge_bases: KnowledgeBases(Default::default()),
            web_search: WebSearch::Offline,
        }
    }

    impl Env {
        fn tools(&self) -> ToolEnv<'_> {
            ToolEnv {
                clock: &self.clock,
                page_tokens: &self.page_tokens,
                documents: &self.documents,
                knowledge_bases: &self.knowledge_bases,
                web_search: &self.web_search,
            }
        }
    }

    #[tokio::test]
    async fn basic_patient_records_follow_the_clinics_clock() {
        // 15:30 UTC is 10:30 in New York; 03:30 UTC is 22:30 the evening before.
        let r = rows("clinic-a", "America/New_York");
        let open = call(
            "basic",
            "clinic-a",
            "patient_context",
            json!({"patient_id": "p-1"}),
        );
        let reply = run_tool(&open, &r, &env(15).tools()).await.unwrap();
        assert_eq!(reply["patient"]["patient_id"], "p-1");
        let closed = run_tool(&open, &r, &env(3).tools()).await.unwrap_err();
        assert_eq!(closed.code(), "outside_business_hours");
        // A claimed hour that is not the clinic's is named as spoofing, before the rule.
        let spoofed = call(
            "basic",
            "clinic-a",
            "patient_context",
            json!({"patient_id": "p-1", "request_hour": 10}),
        );
        let e = run_tool(&spoofed, &r, &env(3).tools()).await.unwrap_err();
        assert_eq!(e.code(), "request_hour_spoofed");
    }

    #[tokio::test]
    async fn premium_patient_records_never_read_the_clinic_row() {
        let r = rows("hospital-x", "America/Chicago");
        let e = env(3);
        let one = call(
            "premium",
            "hospital-x",
            "patient_context",
            json!({"patient_id": "p-2"}),
        );
        run_tool(&one, &r, &e.tools()).await.unwrap();
        let page = call(
            "premium",
            "hospital-x",
            "patient_context",
            json!({"limit": 2}),
        );
        let first = run_tool(&page, &r, &e.tools()).await.unwrap();
        assert_eq!(first["count"], 2);
        assert_eq!(r.clinic_reads.load(Ordering::SeqCst), 0);
        // The page token continues for this clinic.
        let next = call(
            "premium",
            "hospital-x",
            "patient_context",
            json!({"limit": 2, "next_token": first["next_token"]}),
        );
        let second = run_tool(&next, &r, &e.tools()).await.unwrap();
        assert_eq!(second["patients"][0]["patient_id"], "p-3");
        // The clinic's own tools do read it, once a call.
        let config = call("premium", "hospital-x", "clinic_config", json!({}));
        let reply = run_tool(&config, &r, &e.tools()).await.unwrap();
        assert_eq!(reply["clinic"]["timezone"], "America/Chicago");
        assert_eq!(r.clinic_reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_missing_clinic_row_fails_closed_where_it_is_needed() {
        let mut r = rows("clinic-a", "America/New_York");
        r.clinic = None;
        let e = env(15);
        for (tool, args) in [
            ("clinic_config", json!({})),
            ("current_time", json!({})),
            ("patient_context", json!({"patient_id": "p-1"})),
        ] {
            let err = run_tool(&call("basic", "clinic-a", tool, args), &r, &e.tools())
                .await
                .unwrap_err();
            assert_eq!(err.code(), "clinic_misconfigured", "{tool}");
        }
    }
}
