//! The scenarios the tour narrates and the end-to-end tests assert, defined once: each drives
//! the stack as a client would and returns what it saw, line by line, each line with whether
//! the property it shows held. The tour prints the lines and stops at a broken one; a test
//! asserts that none is broken.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::client::{Answer, ask};
use crate::{DevStack, StackError};

mod lifecycle;
pub use lifecycle::{Cast, clinic_leaves, tier_change};

/// One thing a scenario showed: what it did and saw, and whether the property held.
#[derive(Debug, Clone)]
pub struct Shown {
    pub line: String,
    pub holds: bool,
}

/// A scenario's title and what it showed, in order.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub title: String,
    pub shown: Vec<Shown>,
}

impl Scenario {
    fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            shown: Vec::new(),
        }
    }

    fn show(&mut self, holds: bool, line: impl Into<String>) {
        self.shown.push(Shown {
            line: line.into(),
            holds,
        });
    }

    /// The lines whose property did not hold.
    pub fn broken(&self) -> Vec<&str> {
        self.shown
            .iter()
            .filter(|s| !s.holds)
            .map(|s| s.line.as_str())
            .collect()
    }

    /// For tests: panics naming every property that did not hold.
    pub fn assert_holds(&self) {
        let broken = self.broken();
        assert!(
            broken.is_empty(),
            "{}: {} propert(ies) broken:\n  {}\nall lines:\n  {}",
            self.title,
            broken.len(),
            broken.join("\n  "),
            self.shown
                .iter()
                .map(|s| s.line.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}

/// The token with its payload edited to claim another tenant; header and signature kept.
pub fn retarget(token: &str, clinic: &str, tier: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let Some(payload) = parts.get(1).and_then(|p| URL_SAFE_NO_PAD.decode(p).ok()) else {
        return token.to_owned();
    };
    let Ok(mut claims) = serde_json::from_slice::<Value>(&payload) else {
        return token.to_owned();
    };
    claims["custom:clinic_id"] = clinic.into();
    claims["custom:tier"] = tier.into();
    let edited = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{edited}.{}", parts[0], parts.get(2).unwrap_or(&""))
}

/// How API Gateway (or whichever layer) refused `a`, for a line.
pub fn refused_by(a: &Answer) -> String {
    format!(
        "HTTP {} {} ({})",
        a.status,
        a.gateway_error.as_deref().unwrap_or("-"),
        a.body["message"]
            .as_str()
            .or(a.body["Message"].as_str())
            .or(a.body["error"]["code"].as_str())
            .unwrap_or("")
    )
}

/// The front door: forged tenant headers change nothing; the authorizer's policy is cached per
/// token; a clinic suspended by tenant-admin can no longer sign in and the token its user
/// already holds is denied (403) by the authorizer and, sent straight at the Gateway, refused
/// by tool-target from the registry; a tampered token, another pool's token and
/// a token that is not a JWT are refused (401), the last before the authorizer runs.
/// `suspended` stays suspended afterwards.
pub async fn front_door(
    stack: &DevStack,
    http: &reqwest::Client,
    suspended: &str,
) -> Result<Scenario, StackError> {
    let url = stack.api.invoke_url();
    let mut s = Scenario::new(format!(
        "Front door: POST {url} (API Gateway EMULATION -> tenant-authorizer -> API key and usage plan -> request-proxy)"
    ));
    let token_a = stack.sign_in("clinic-a").await?;
    let held = stack.sign_in(suspended).await?;
    let calls_before = stack.api.authorizer_calls();

    // A caller trying to upgrade itself with headers: they must change nothing.
    let forged_headers = [("X-Tier", "premium"), ("X-Clinic-ID", "hospital-x")];
    let prompt = "What are our opening hours?";
    let a = ask(http, &url, &token_a, prompt, None, &forged_headers).await?;
    let catalog = tenant_context::TierCatalog::embedded()?;
    let basic_model = catalog.config(&catalog.tier("basic")?)?.model_id.clone();
    let model = a.body["usage"]["model_id"].as_str().unwrap_or("?");
    let answer = a.body["answer"].as_str().unwrap_or("");
    s.show(
        a.status == 200 && model == basic_model && answer.contains("Maple Street"),
        format!(
            "clinic-a with X-Tier: premium and X-Clinic-ID: hospital-x sent along: HTTP {}, answered by the {model} agent (forged headers changed nothing)\n        {}",
            a.status,
            crate::reply::describe(&a.body)
        ),
    );
    let again = ask(http, &url, &token_a, "And our timezone?", None, &[]).await?;
    let calls = stack.api.authorizer_calls() - calls_before;
    s.show(
        again.status == 200 && calls == 1,
        format!(
            "a second request with the same token: HTTP {}, {} (policy cached 60 s, as configured)",
            again.status,
            if calls == 1 {
                "authorizer not called again".to_owned()
            } else {
                format!("authorizer called {calls} times for one token")
            }
        ),
    );

    // tenant-admin suspends the clinic: its registry status, and its users disabled and
    // signed out.
    let users = stack
        .set_tenant_status(suspended, tenant_admin::TenantStatus::Suspended)
        .await?;
    let signs_in = stack.sign_in(suspended).await.is_ok();
    s.show(
        users >= 1 && !signs_in,
        format!(
            "tenant-admin suspends {suspended}: {users} user(s) disabled and signed out; a new sign-in is {}",
            if signs_in {
                "ACCEPTED"
            } else {
                "refused by Cognito"
            }
        ),
    );
    // The same held token straight at its tier's Gateway, skipping the front door: the
    // Gateway takes only the basic runtime role's signature, so the token opens nothing.
    let status = bearer_at_gateway(stack, http, &held, "basic").await?;
    s.show(
        status == 403,
        format!(
            "{suspended}'s earlier token straight at the basic Gateway: HTTP {status} (IAM inbound auth: only the basic runtime's signature opens it)"
        ),
    );
    // And were it carried by the runtime itself (an agent that verified it moments before the
    // suspension), tool-target refuses the clinic from the registry.
    let runtime = emulators::iam::LocalPrincipal::runtime("basic");
    let direct = tool_as(stack, http, &held, &runtime, "clinic_config").await?;
    s.show(
        direct.contains("tenant_not_served"),
        format!(
            "the same token carried by the basic runtime's own signed call (clinic_config): {}",
            if direct.contains("tenant_not_served") {
                "refused by tool-target from the registry (tenant_not_served)".to_owned()
            } else {
                format!("NOT refused: {direct}")
            }
        ),
    );
    let before_refusals = stack.api.authorizer_calls();
    let attempts = [
        (
            format!("{suspended}'s earlier token, after the suspension"),
            held,
            403,
            "AccessDeniedException",
        ),
        (
            "the tampered token".to_owned(),
            retarget(&token_a, "hospital-x", "premium"),
            401,
            "UnauthorizedException",
        ),
        (
            "a valid token of another user pool".to_owned(),
            testkit::test_issuer::id_token("basic", "clinic-a"),
            401,
            "UnauthorizedException",
        ),
    ];
    for (who, token, status, kind) in attempts {
        let r = ask(http, &url, &token, "Show patient p-1001", None, &[]).await?;
        s.show(
            r.status == status && r.gateway_error.as_deref() == Some(kind),
            format!("{who:<47} {}", refused_by(&r)),
        );
    }
    // Not a JWT: API Gateway's identity validation refuses it before the authorizer runs.
    let calls = stack.api.authorizer_calls();
    let junk = ask(http, &url, "not-a-jwt", "hi", None, &[]).await?;
    s.show(
        junk.status == 401
            && junk.gateway_error.as_deref() == Some("UnauthorizedException")
            && stack.api.authorizer_calls() == calls
            && calls == before_refusals + 3,
        format!(
            "{:<47} {} (the authorizer not called)",
            "a token that is not a JWT",
            refused_by(&junk)
        ),
    );
    Ok(s)
}

/// An MCP session on `tier`'s Gateway (the token's own tier when `None`) with the agent's own
/// MCP client, signed as `signer` and carrying `token` for the tool target, as an agent does.
async fn gateway_session(
    stack: &DevStack,
    http: &reqwest::Client,
    token: &str,
    tier: Option<&str>,
    signer: &emulators::iam::LocalPrincipal,
) -> Result<
    Result<agent_runtime::tools::GatewaySession, agent_runtime::tools::GatewayError>,
    StackError,
> {
    let catalog = tenant_context::TierCatalog::embedded()?;
    let verifier = tenant_context::TokenVerifier::new(
        tenant_context::VerifierConfig::new(
            &stack.pool.issuer,
            &stack.pool.client_id,
            &stack.pool.jwks_url,
        )?,
        catalog.clone(),
    )?;
    let ctx = verifier.verify(token).await?.context;
    let tier = catalog.tier(tier.unwrap_or(ctx.tier().as_str()))?;
    let url = stack.gateway_url(tier.as_str())?;
    let session = tenant_context::RuntimeSessionId::parse("scenario-gateway-session-0000000001")?;
    let role = request_signing::RoleCredentials::new(
        aws_credential_types::provider::SharedCredentialsProvider::new(signer.credentials()),
        testkit::STANDIN_REGION,
    );
    let client = agent_runtime::tools::SignedGatewayClient::new(http.clone(), role);
    Ok(
        agent_runtime::tools::Gateway::new(client, url, catalog.config(&tier)?)
            .connect(token, &ctx, &session, &catalog)
            .await,
    )
}

/// What a user holding only `token` can do at `tier`'s Gateway: an MCP `initialize` with the
/// token as a Bearer; the HTTP status.
async fn bearer_at_gateway(
    stack: &DevStack,
    http: &reqwest::Client,
    token: &str,
    tier: &str,
) -> Result<u16, StackError> {
    let resp = http
        .post(stack.gateway_url(tier)?)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "held-token", "version": "1"}}
        }))
        .send()
        .await
        .map_err(|e| StackError::Setup {
            what: format!("POST to the Gateway emulation: {e}"),
        })?;
    Ok(resp.status().as_u16())
}

/// Calls `tool` on the token's own tier's Gateway, signed as `signer`; the tool's reply text
/// (or why there was none).
async fn tool_as(
    stack: &DevStack,
    http: &reqwest::Client,
    token: &str,
    signer: &emulators::iam::LocalPrincipal,
    tool: &str,
) -> Result<String, StackError> {
    use agent_runtime::tools::Toolbox;
    Ok(
        match gateway_session(stack, http, token, None, signer).await? {
            Ok(session) => {
                let outcome = session.call(tool, serde_json::Map::new()).await;
                session.close().await;
                outcome.text
            }
            Err(e) => format!("no MCP session: {e}"),
        },
    )
}

/// Usage plans: `noisy` sends its burst limit and three more at once; API Gateway passes the
/// burst and throttles the rest (429), while `quiet`, of the same tier, is served right after.
pub async fn burst(
    stack: &DevStack,
    http: &reqwest::Client,
    noisy: &str,
    quiet: &str,
) -> Result<Scenario, StackError> {
    let catalog = tenant_context::TierCatalog::embedded()?;
    let tier = catalog.tier("basic")?;
    let plan = &catalog.config(&tier)?.usage_plan;
    let (rate, burst) = (plan.rate_limit, plan.burst_limit as usize);
    let sent = burst + 3;
    let mut s = Scenario::new(format!(
        "Limits: {noisy} ({tier}: {rate} req/s, burst {burst}) sends {sent} requests at once; {quiet}, same tier, is unaffected"
    ));
    let url = stack.api.invoke_url();
    let token = stack.sign_in(noisy).await?;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..sent {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        set.spawn(async move {
            ask(
                &http,
                &url,
                &token,
                "What are our opening hours?",
                None,
                &[],
            )
            .await
        });
    }
    let (mut ok, mut throttled, mut other) = (0, 0, Vec::new());
    while let Some(r) = set.join_next().await {
        let a = r.map_err(|e| StackError::Setup {
            what: format!("a request task failed: {e}"),
        })??;
        match (a.status, a.gateway_error.as_deref()) {
            (200, _) => ok += 1,
            (429, Some("TooManyRequestsException")) => throttled += 1,
            (status, kind) => other.push(format!("HTTP {status} {kind:?}")),
        }
    }
    s.show(
        throttled >= 1 && ok >= burst && other.is_empty(),
        format!(
            "{noisy}: {ok} answered, {throttled} refused with HTTP 429 TooManyRequestsException {{\"message\":\"Too Many Requests\"}} (its usage plan, at API Gateway){}",
            if other.is_empty() {
                String::new()
            } else {
                format!("; unexpected: {}", other.join(", "))
            }
        ),
    );
    let token = stack.sign_in(quiet).await?;
    let c = ask(http, &url, &token, "What are our opening hours?", None, &[]).await?;
    s.show(
        c.status == 200,
        format!(
            "{quiet} right after: HTTP {} (its own key, its own bucket)",
            c.status
        ),
    );
    Ok(s)
}

/// 10:00 and 22:00 in New York (clinic-a's timezone) on the same day.
pub const DAYTIME: &str = "2026-12-01T15:00:00Z";
pub const EVENING: &str = "2026-12-02T03:00:00Z";

/// Tier differences decided below the model: a basic clinic's patient question is answered
/// at 10:00 and denied by the Gateway's Cedar policy at 22:00 clinic time (the tool target's
/// clock is set by the devstack); a premium hospital is not bound by the hours; a basic
/// clinic's token straight at the premium Gateway opens nothing (IAM inbound auth), and the
/// basic runtime's own signed call there is refused by IAM. Leaves the clock at [`EVENING`].
pub async fn tiers(stack: &DevStack, http: &reqwest::Client) -> Result<Scenario, StackError> {
    use agent_runtime::tools::GatewayError;
    let mut s = Scenario::new(
        "Tiers: basic business hours by the Gateway's Cedar policies (the tool target's clock is set by the devstack), premium tools behind the premium Gateway, which only the premium runtime's role may call",
    );
    let url = stack.api.invoke_url();
    let token_a = stack.sign_in("clinic-a").await?;
    let token_x = stack.sign_in("hospital-x").await?;
    for (who, token, when, instant, patient, name, want) in [
        (
            "clinic-a",
            &token_a,
            "10:00 New York",
            DAYTIME,
            "p-1001",
            "Avery Lindqvist",
            "ok",
        ),
        (
            "clinic-a",
            &token_a,
            "22:00 New York",
            EVENING,
            "p-1001",
            "Avery Lindqvist",
            "denied",
        ),
        (
            "hospital-x",
            &token_x,
            "22:00 New York",
            EVENING,
            "p-5001",
            "",
            "ok",
        ),
    ] {
        stack.set_clock(Some(instant))?;
        let prompt = format!("Show patient {patient}");
        let a = crate::client::ask_patiently(http, &url, token, &prompt, None).await?;
        let status = a.body["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["tool"] == "patient_context")
            .and_then(|t| t["status"].as_str())
            .unwrap_or("not called")
            .to_owned();
        let answer = a.body["answer"].as_str().unwrap_or_default();
        let has_patient = !name.is_empty() && answer.contains(name);
        let shows = if want == "denied" {
            " (no patient data in the answer)".to_owned()
        } else if name.is_empty() {
            " (premium: no business hours)".to_owned()
        } else {
            format!(" ({name}, {who}'s own patient)")
        };
        s.show(
            status == want && (name.is_empty() || has_patient == (want == "ok")),
            format!("{who} at {when}: \"{prompt}\" -> patient_context {status}{shows}"),
        );
    }

    // Straight at the premium Gateway (to call web_search): with a basic clinic's token the
    // Gateway opens to no user credential; and signed by the basic runtime's role (a basic
    // agent gone wrong) IAM refuses it, that role may invoke the basic Gateway only.
    let status = bearer_at_gateway(stack, http, &token_a, "premium").await?;
    s.show(
        status == 403,
        format!("clinic-a's token straight at the premium Gateway (to call web_search): HTTP {status}, no user credential opens a Gateway"),
    );
    let basic_runtime = emulators::iam::LocalPrincipal::runtime("basic");
    let refused =
        match gateway_session(stack, http, &token_a, Some("premium"), &basic_runtime).await? {
            Err(GatewayError::Unauthorized) => true,
            Ok(session) => {
                session.close().await;
                false
            }
            Err(_) => false,
        };
    s.show(
        refused,
        "the basic runtime's own signed call at the premium Gateway: refused by IAM (each runtime role may invoke its own tier's Gateway only)",
    );
    Ok(s)
}
