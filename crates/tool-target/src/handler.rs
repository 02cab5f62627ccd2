//! One tool call, end to end: read the Gateway call, establish the tenant from the verified ID
//! token (propagated in `X-Id-Token`) cross-checked with the tenant headers, check the target's
//! tier and the tier's rules, then run the tool on the tenant's own rows with scoped credentials.

use std::sync::Arc;

use chrono::Timelike;
use scoped_credentials::{CredentialCache, Issuer, Scope, TenantCredentialsProvider};
use serde_json::{Value, json};
use tenant_context::{TenantContext, TokenVerifier};

use crate::clock::{self, Clock};
use crate::data::{Tables, TenantData};
use crate::documents::{self, KnowledgeBases};
use crate::error::ToolError;
use crate::gateway::GatewayCall;
use crate::page_token::PageTokens;
use crate::runtime::Invocation;
use crate::tools::{DEFAULT_DOCUMENT_RESULTS, DEFAULT_PAGE_SIZE, ToolCall};
use crate::web_search::WebSearch;

/// The allow-listed header that carries the caller's Cognito ID token to this target.
pub const HEADER_ID_TOKEN: &str = "X-Id-Token";

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
    pub documents: aws_sdk_bedrockagentruntime::Client,
    pub knowledge_bases: KnowledgeBases,
    pub web_search: WebSearch,
}

/// The reply for one invocation: the tool's JSON, or `{"error": {"code", "message"}}`.
pub async fn handle(inv: Invocation, deps: Arc<Deps>) -> Value {
    // Set once the caller's tenant is verified, so a later refusal is attributed to it.
    let mut verified: Option<TenantContext> = None;
    match serve(&inv, &deps, &mut verified).await {
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
fn clinic_needed(tool: &ToolCall, tier: &tenant_context::TierConfig) -> bool {
    matches!(tool, ToolCall::ClinicConfig(_) | ToolCall::CurrentTime(_))
        || tool.request_hour().is_some()
        || tier
            .business_hours
            .as_ref()
            .is_some_and(|b| b.tools.iter().any(|t| t == tool.name()))
}

async fn serve(
    inv: &Invocation,
    deps: &Deps,
    verified: &mut Option<TenantContext>,
) -> Result<Value, ToolError> {
    let call = GatewayCall::from_client_context(inv.client_context.as_deref())?;
    let tenant = tenant(&call, deps).await?;
    *verified = Some(tenant.clone());
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
    let token = call.header(HEADER_ID_TOKEN).unwrap_or_default();
    let provider = TenantCredentialsProvider::new(
        deps.credentials.clone(),
        token,
        tenant.clone(),
        Scope::Data,
    );
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&deps.sdk)
            .credentials_provider(provider)
            .build(),
    );
    let data = TenantData {
        ddb,
        tables: &deps.tables,
        clinic: tenant.clinic_id(),
    };
    // The clinic's row (its timezone, its name) is read only when a rule or the tool needs it:
    // premium patient records and documents without a claimed hour make one DynamoDB call.
    let clinic = if clinic_needed(&tool, tier) {
        Some(data.clinic_record().await?)
    } else {
        None
    };
    tracing::info!(
        request_id = %inv.request_id,
        tier = %tenant.tier(),
        clinic_id = %tenant.clinic_id(),
        tool = tool.name(),
        "tool call"
    );

    let local = match &clinic {
        Some(c) => {
            let tz = clock::timezone(&c.timezone)?;
            // The model's idea of the hour is checked first, so a spoofed hour is named as such.
            if let Some(claimed) = tool.request_hour() {
                clock::check_request_hour(&deps.clock, tz, claimed)?;
            }
            let now = clock::local_now(&deps.clock, tz);
            // In 0-23 by construction; the server's clock decides for every tool under
            // business hours.
            if !tier.allows_tool_at(tool.name(), now.hour() as u8) {
                let (start, end) = tier
                    .business_hours
                    .as_ref()
                    .map_or((0, 24), |b| (b.start_hour, b.end_hour));
                return Err(ToolError::OutsideBusinessHours { start, end });
            }
            Some((c, now))
        }
        None => None,
    };

    match tool {
        ToolCall::PatientContext(args) => {
            if let Some(id) = args.patient_id {
                return Ok(json!({ "patient": data.patient(&id).await? }));
            }
            let after = args
                .next_token
                .map(|t| deps.page_tokens.open(&t, tenant.clinic_id()))
                .transpose()?;
            let (patients, last) = data
                .patients(args.limit.unwrap_or(DEFAULT_PAGE_SIZE), after)
                .await?;
            Ok(json!({
                "count": patients.len(),
                "patients": patients,
                "next_token": last.map(|l| deps.page_tokens.seal(tenant.clinic_id(), &l)),
            }))
        }
        ToolCall::ClinicConfig(_) => {
            let (clinic, _) = local.ok_or(ToolError::ClinicMisconfigured("no clinic row read"))?;
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
            let (clinic, now) =
                local.ok_or(ToolError::ClinicMisconfigured("no clinic row read"))?;
            Ok(json!({
                "timezone": clinic.timezone,
                "local_time": now.to_rfc3339(),
                "hour": now.hour(),
            }))
        }
        ToolCall::RetrieveClinicDocuments(args) => {
            let passages = documents::retrieve(
                &deps.documents,
                &deps.knowledge_bases,
                &tenant,
                &args.query,
                args.max_results.unwrap_or(DEFAULT_DOCUMENT_RESULTS),
            )
            .await?;
            Ok(json!({ "count": passages.len(), "documents": passages }))
        }
        ToolCall::WebSearch(args) => {
            let results = deps
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
async fn tenant(call: &GatewayCall, deps: &Deps) -> Result<TenantContext, ToolError> {
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
    Ok(tenant)
}
