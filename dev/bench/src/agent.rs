//! agent-runtime beside the BENCHMARK PEER Strands agent (a bedrock-agentcore app), both as
//! processes on 127.0.0.1 speaking the AgentCore Runtime contract (`POST /invocations`,
//! `GET /ping`), pointed at the same upstreams, each behind a counting proxy: the model
//! stand-in, the Gateway emulation over a tool target that answers at once, the Memory and
//! Guardrails emulations, and STS on moto. Every upstream answers at once, so what a turn
//! takes beyond the time some upstream was busy is the agent's own cost.

use anyhow::Context as _;
use anyhow::anyhow;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use emulators::agent::AgentProcess;
use emulators::counting_proxy::{CountingProxy, busy_within};
use emulators::gateway::{BackendFuture, GatewayEmulation, TargetCall};
use emulators::guardrail::GuardrailEmulation;
use emulators::memory::{MemoryEmulation, definitions};
use emulators::model::{ANSWER_LABEL, ModelStandin, Pacing};
use serde_json::{Value, json};
use tenant_context::{ClinicId, Role, SessionBinder, TenantContext, TierCatalog, UserKey};
use testkit::Endpoints;
use testkit::test_issuer::{self, AUDIENCE, ISSUER};

use crate::process::{cpu_time, peak_rss_kib};
use crate::profile::Profile;
use crate::report::{Row, Target};
use crate::side::{Side, Subjects, order};
use crate::stats::{Samples, ms, us};

pub(crate) fn name(side: Side) -> &'static str {
    match side {
        Side::Ours => "agent-runtime",
        Side::Peer => "peer-strands-agent",
    }
}

const GROUP: &str = "agent";
const TIER: &str = "basic";
const CLINIC: &str = "clinic-a";
const USER: &str = "user-of-clinic-a";
const PROMPT: &str = "What are our opening hours?";
const MEMORY_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/tenantry-tenant-memory";
const GUARDRAIL_ID: &str = emulators::guardrail::LOCAL_GUARDRAIL_ID;
const GUARDRAIL_VERSION: &str = emulators::guardrail::LOCAL_GUARDRAIL_VERSION;
/// Callers at once for the credential count.
const CONCURRENT: usize = 32;

fn failed(kind: Side, what: impl std::fmt::Display) -> anyhow::Error {
    crate::failed(name(kind), what.to_string())
}

/// The upstreams, each behind its counting proxy (declared after what it fronts), each
/// answering after the profile's delay.
pub(crate) struct World {
    catalog: TierCatalog,
    _idp: wiremock::MockServer,
    jwks_url: String,
    _model: ModelStandin,
    _gateway: GatewayEmulation,
    _memory: MemoryEmulation,
    _guardrail: GuardrailEmulation,
    pub(crate) tool_calls: Arc<AtomicUsize>,
    pub(crate) model: CountingProxy,
    gateway: CountingProxy,
    memory: CountingProxy,
    guardrail: CountingProxy,
    sts: CountingProxy,
    /// DynamoDB (dynalite): agent-runtime's per-clinic usage table, turn limit and budgets.
    dynamodb: CountingProxy,
    usage_table: String,
    /// CloudWatch Logs (moto): the audit trail the agent writes memory recalls to.
    logs: CountingProxy,
    audit_group: String,
    pub(crate) token: String,
    session_key: String,
    sessions: SessionBinder,
}

fn memory_id(tier: &str) -> String {
    emulators::memory::local_memory_id(tier)
}

impl World {
    pub(crate) async fn start(profile: Profile) -> anyhow::Result<Self> {
        let setup = |what: &str| {
            let what = what.to_owned();
            move |e: &dyn std::fmt::Display| anyhow!("{what}: {e}")
        };
        let endpoints = Endpoints::from_env()?;
        let catalog = TierCatalog::embedded().map_err(|e| setup("tier file")(&e))?;
        let idp = test_issuer::jwks_server().await;
        let jwks_url = test_issuer::jwks_url(&idp);
        let tier = catalog.tier(TIER).map_err(|e| setup("tier")(&e))?;

        let pacing = Pacing {
            first_token: Profile::ms(profile.first_token),
            per_token: profile.per_token(),
        };
        let model = ModelStandin::start_paced(0, pacing)
            .await
            .map_err(|e| setup("model stand-in")(&e))?;
        // The tool target answers at once (after the profile's Lambda invoke): what is
        // measured is the agents, not the tool.
        let tool_calls = Arc::new(AtomicUsize::new(0));
        let counted = tool_calls.clone();
        let invoke = Profile::ms(profile.lambda);
        let backend = move |call: TargetCall| -> BackendFuture {
            counted.fetch_add(1, Ordering::SeqCst);
            let tool = call.client_context.tool_name.clone();
            Box::pin(async move {
                tokio::time::sleep(invoke).await;
                Ok(json!({"clinic": {"clinic_id": CLINIC, "name": "Clinic A",
                    "opening_hours": "08:00-18:00", "tool": tool}}))
            })
        };
        let gateway = GatewayEmulation::start(tier.clone(), &catalog, Arc::new(backend), 0)
            .await
            .map_err(|e| setup("Gateway emulation")(&e))?;
        let memory = MemoryEmulation::start(definitions(&catalog, memory_id), 0)
            .await
            .map_err(|e| setup("Memory emulation")(&e))?;
        let guardrail = GuardrailEmulation::start(GUARDRAIL_ID, GUARDRAIL_VERSION, 0)
            .await
            .map_err(|e| setup("Guardrails emulation")(&e))?;

        let mut claims = test_issuer::id_claims();
        claims["custom:tier"] = TIER.into();
        claims["custom:clinic_id"] = CLINIC.into();
        claims["sub"] = USER.into();
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| setup("randomness")(&e))?;
        use base64::Engine as _;
        let session_key = base64::engine::general_purpose::STANDARD.encode(key);
        let dynamodb_url = endpoints
            .dynamodb_url
            .clone()
            .ok_or_else(|| anyhow!("no DynamoDB stand-in: run scripts/standins.sh start"))?;
        let usage_table = testkit::dynamo::create_usage_table(&endpoints, "bench")
            .await
            .map_err(|e| setup("usage table")(&e))?;
        let audit_group = testkit::audit_group::create(&endpoints, "bench")
            .await
            .map_err(|e| setup("audit log group")(&e))?;
        Ok(Self {
            logs: CountingProxy::start(&endpoints.moto_url).await?,
            audit_group,
            model: CountingProxy::start(model.base_url().trim_end_matches("/v1")).await?,
            gateway: CountingProxy::start_with_delay(
                gateway.url().trim_end_matches("/mcp"),
                Profile::ms(profile.gateway),
            )
            .await?,
            memory: CountingProxy::start_with_delay(
                &memory.endpoint(),
                Profile::ms(profile.memory),
            )
            .await?,
            guardrail: CountingProxy::start_with_delay(
                &guardrail.endpoint(),
                Profile::ms(profile.guardrail),
            )
            .await?,
            sts: CountingProxy::start(&endpoints.moto_url).await?,
            dynamodb: CountingProxy::start_with_delay(&dynamodb_url, Profile::ms(profile.dynamodb))
                .await?,
            usage_table,
            sessions: SessionBinder::from_base64(&session_key)
                .map_err(|e| setup("session key")(&e))?,
            session_key,
            token: test_issuer::sign(&claims),
            catalog,
            _idp: idp,
            jwks_url,
            _model: model,
            _gateway: gateway,
            _memory: memory,
            _guardrail: guardrail,
            tool_calls,
        })
    }

    pub(crate) fn new_session(&self) -> anyhow::Result<String> {
        let parse = |e: tenant_context::Error| anyhow!("session: {e}");
        let ctx = TenantContext::new(
            self.catalog.tier(TIER).map_err(parse)?,
            ClinicId::parse(CLINIC).map_err(parse)?,
            UserKey::parse(USER).map_err(parse)?,
            Role::parse("clinician").map_err(parse)?,
        );
        Ok(self
            .sessions
            .issue(&ctx)
            .map_err(parse)?
            .as_str()
            .to_owned())
    }

    /// When any upstream was busy.
    pub(crate) fn busy(&self) -> Vec<(Instant, Instant)> {
        let mut all = self.model.busy();
        all.extend(self.busy_besides_model());
        all
    }

    /// When any upstream but the model was busy.
    pub(crate) fn busy_besides_model(&self) -> Vec<(Instant, Instant)> {
        [
            &self.gateway,
            &self.memory,
            &self.guardrail,
            &self.sts,
            &self.dynamodb,
            &self.logs,
        ]
        .iter()
        .flat_map(|p| p.busy())
        .collect()
    }

    fn env(&self, kind: Side, port: u16) -> anyhow::Result<Vec<(String, String)>> {
        let tier = self
            .catalog
            .tier(TIER)
            .and_then(|t| self.catalog.config(&t).cloned())
            .context("tier")?;
        let mut env: Vec<(&str, String)> = vec![
            ("TENANTRY_TIER", TIER.into()),
            (
                "TENANTRY_MODEL_BASE_URL",
                format!("{}/v1", self.model.url()),
            ),
            (
                "TENANTRY_GATEWAY_URL",
                format!("{}/mcp", self.gateway.url()),
            ),
            ("TENANTRY_TOKEN_ISSUER", ISSUER.into()),
            ("TENANTRY_TOKEN_AUDIENCE", AUDIENCE.into()),
            ("TENANTRY_JWKS_URL", self.jwks_url.clone()),
            ("TENANTRY_MEMORY_ID", memory_id(TIER)),
            ("TENANTRY_TVM_ROLE_ARN", MEMORY_ROLE_ARN.into()),
            ("TENANTRY_GUARDRAIL_ID", GUARDRAIL_ID.into()),
            ("TENANTRY_GUARDRAIL_VERSION", GUARDRAIL_VERSION.into()),
            ("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", self.memory.url()),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", self.guardrail.url()),
            ("AWS_ENDPOINT_URL_STS", self.sts.url()),
            ("AWS_REGION", testkit::STANDIN_REGION.into()),
            ("AWS_DEFAULT_REGION", testkit::STANDIN_REGION.into()),
        ];
        // Both sides sign their Gateway calls as the tier's runtime role (local stand-in).
        env.extend(emulators::iam::LocalPrincipal::runtime(TIER).env());
        match kind {
            Side::Ours => {
                env.push(("TENANTRY_LISTEN_ADDR", format!("127.0.0.1:{port}")));
                env.push(("TENANTRY_SESSION_KEY", self.session_key.clone()));
                env.push(("TENANTRY_CREDENTIALS_SOURCE", "sts".into()));
                // Each turn's user-minute limit and usage count, as deployed; the limit set
                // high enough for a benchmark's pace of one user.
                env.push(("TENANTRY_USAGE_TABLE", self.usage_table.clone()));
                env.push(("TENANTRY_USER_TURNS_PER_MINUTE", "1000000".into()));
                env.push(("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb.url()));
                // The audit trail (memory recalls with records are written before the model
                // reads them), as deployed.
                env.push(("TENANTRY_AUDIT_LOG_GROUP", self.audit_group.clone()));
                env.push(("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", self.logs.url()));
                env.push(("RUST_LOG", "warn".into()));
            }
            Side::Peer => {
                env.push(("PORT", port.to_string()));
                env.push(("TENANTRY_MODEL_ID", tier.model_id.clone()));
                let namespaces: Vec<&str> = tier
                    .memory
                    .strategies
                    .iter()
                    .map(|s| s.namespace.as_str())
                    .collect();
                env.push(("TENANTRY_MEMORY_NAMESPACES", namespaces.join(",")));
                env.push(("PYTHONDONTWRITEBYTECODE", "1".into()));
                // OpenTelemetry is on by default in the Strands SDK only when configured;
                // nothing is exported here.
                env.push(("OTEL_SDK_DISABLED", "true".into()));
            }
        }
        Ok(env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

/// Starts the agent and returns it with the time from spawn to the first healthy `/ping`;
/// `variant` names a peer variant (its log) and `extra` its settings.
pub(crate) async fn start_agent(
    world: &World,
    kind: Side,
    subjects: &Subjects,
    variant: Option<&str>,
    extra: &[(&str, &str)],
) -> anyhow::Result<(AgentProcess, Duration)> {
    let port = emulators::agent::free_port()?;
    let mut env = world.env(kind, port)?;
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let log_path = subjects
        .log_dir
        .join(format!("{}.log", variant.unwrap_or(name(kind))));
    // Appended: one log per agent kind over the whole run, every start in it.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("open {}", log_path.display()))?;
    let log2 = log.try_clone().context("agent log")?;
    let mut command = match kind {
        Side::Ours => Command::new(&subjects.ours),
        Side::Peer => {
            let mut c = Command::new(&subjects.python);
            c.arg(subjects.peer_dir.join("agent.py"));
            c
        }
    };
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env);
    if kind == Side::Peer {
        command.env("PYTHONPATH", crate::side::peer_path(&subjects.peer_dir));
    }
    let began = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| failed(kind, format!("start: {e}")))?;
    let mut agent = AgentProcess::adopt(child, port);
    loop {
        if emulators::agent::healthy(port) {
            return Ok((agent, began.elapsed()));
        }
        if let Some(status) = agent.exited() {
            return Err(failed(
                kind,
                format!(
                    "exited during start-up ({status}); see {}",
                    log_path.display()
                ),
            ));
        }
        if began.elapsed() > Duration::from_secs(60) {
            return Err(failed(
                kind,
                format!("no /ping answer within 60 s; see {}", log_path.display()),
            ));
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// One turn, timed from the request to the last byte of the reply; the reply must be the
/// model stand-in's answer built on one tool call.
async fn turn(
    http: &reqwest::Client,
    world: &World,
    agent: &AgentProcess,
    kind: Side,
    session: &str,
) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let reply = invocation(http, world, agent, session, "application/json")
        .send()
        .await
        .map_err(|e| failed(kind, e))?;
    let status = reply.status();
    let body: Value = reply.json().await.map_err(|e| failed(kind, e))?;
    let elapsed = began.elapsed();
    let answer = body["answer"].as_str().unwrap_or_default();
    if !status.is_success()
        || !answer.starts_with(ANSWER_LABEL)
        || !answer.contains("clinic_config")
    {
        return Err(failed(kind, format!("unexpected reply {status}: {body}")));
    }
    Ok(elapsed)
}

/// The benchmark's question as AgentCore Runtime passes it on: the caller's ID token, the
/// session, the answer's form.
pub(crate) fn invocation(
    http: &reqwest::Client,
    world: &World,
    agent: &AgentProcess,
    session: &str,
    accept: &str,
) -> reqwest::RequestBuilder {
    http.post(format!("{}/invocations", agent.url()))
        .header(contracts::headers::RUNTIME_ID_TOKEN, &world.token)
        .header("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", session)
        .header("Accept", accept)
        .json(&json!({"prompt": PROMPT}))
}

async fn ping(
    http: &reqwest::Client,
    agent: &AgentProcess,
    kind: Side,
) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let r = http
        .get(format!("{}/ping", agent.url()))
        .send()
        .await
        .map_err(|e| failed(kind, e))?;
    let ok = r.status().is_success();
    let _ = r.bytes().await;
    if !ok {
        return Err(failed(kind, "/ping did not answer 200"));
    }
    Ok(began.elapsed())
}

/// Waits until `/ping` says `Healthy`: the agent's work after its last answer has ended.
pub(crate) async fn settled(
    http: &reqwest::Client,
    agent: &AgentProcess,
    kind: Side,
) -> anyhow::Result<()> {
    let began = Instant::now();
    loop {
        let r = http
            .get(format!("{}/ping", agent.url()))
            .send()
            .await
            .map_err(|e| failed(kind, e))?;
        let body: Value = r.json().await.map_err(|e| failed(kind, e))?;
        if body["status"] == "Healthy" {
            return Ok(());
        }
        if began.elapsed() > Duration::from_secs(15) {
            return Err(failed(kind, format!("/ping still says {body} after 15 s")));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[derive(Default)]
struct PerAgent {
    start: Samples,
    first_turn: Samples,
    turn: Samples,
    own: Samples,
    ping: Samples,
    rss_kib: u64,
    /// CPU time (user and system) over the warm turns, divided by their number.
    cpu_per_turn: Duration,
    assume_role_concurrent: usize,
}

/// Runs every agent measurement; `progress` gets one line per step.
pub async fn run(
    subjects: &Subjects,
    warm_turns: usize,
    cold_starts: usize,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<Row>> {
    let world = World::start(Profile::NONE).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("HTTP client")?;
    let mut m = [PerAgent::default(), PerAgent::default()];

    progress(&format!(
        "agent: {cold_starts} starts each (spawn to a healthy /ping, then the first turn)"
    ));
    for i in 0..cold_starts {
        for kind in order(i) {
            let (agent, took) = start_agent(&world, kind, subjects, None, &[]).await?;
            m[kind.slot()].start.push(took);
            let session = world.new_session()?;
            m[kind.slot()]
                .first_turn
                .push(turn(&http, &world, &agent, kind, &session).await?);
        }
    }

    progress(&format!(
        "agent: {warm_turns} warm turns each (model, Gateway, Memory and Guardrails answering at once)"
    ));
    let agents = [
        start_agent(&world, Side::Ours, subjects, None, &[])
            .await?
            .0,
        start_agent(&world, Side::Peer, subjects, None, &[])
            .await?
            .0,
    ];
    let session = world.new_session()?;
    for kind in [Side::Ours, Side::Peer] {
        turn(&http, &world, &agents[kind.slot()], kind, &session).await?;
    }
    for i in 0..warm_turns.div_ceil(4) {
        for kind in order(i) {
            let d = ping(&http, &agents[kind.slot()], kind).await?;
            m[kind.slot()].ping.push(d);
        }
    }
    let tools_before = world.tool_calls.load(Ordering::SeqCst);
    let cpu_before = agents.each_ref().map(|a| cpu_time(a.pid()));
    for i in 0..warm_turns {
        // A fresh session now and then, so the recalled history stays short for both.
        let session = world.new_session()?;
        for kind in order(i) {
            let from = Instant::now();
            let d = turn(&http, &world, &agents[kind.slot()], kind, &session).await?;
            let waited = busy_within(&world.busy(), from, Instant::now());
            // agent-runtime's work after the answer (memory, usage) ends before the next
            // turn, so no turn's upstream time holds another's.
            settled(&http, &agents[kind.slot()], kind).await?;
            let floor = m[kind.slot()].ping.p50();
            let a = &mut m[kind.slot()];
            a.turn.push(d);
            a.own.push(d.saturating_sub(waited).saturating_sub(floor));
        }
    }
    let tools = world.tool_calls.load(Ordering::SeqCst) - tools_before;
    if tools != 2 * warm_turns {
        return Err(anyhow!(
            "expected one tool call per turn ({}), the tool target saw {tools}",
            2 * warm_turns
        ));
    }
    for kind in [Side::Ours, Side::Peer] {
        let pid = agents[kind.slot()].pid();
        m[kind.slot()].rss_kib = peak_rss_kib(pid).unwrap_or_default();
        let used = cpu_time(pid)
            .zip(cpu_before[kind.slot()])
            .map(|(after, before)| after.saturating_sub(before))
            .ok_or_else(|| failed(kind, "no CPU time in /proc"))?;
        m[kind.slot()].cpu_per_turn = used / u32::try_from(warm_turns.max(1)).unwrap_or(u32::MAX);
    }
    drop(agents);

    progress(&format!(
        "agent: {CONCURRENT} turns at once of one user on a fresh agent, counting STS AssumeRole"
    ));
    // Each turn reserves its first call's estimate: 32 at once on top of the warm turns would
    // pass the tier's daily token budget, so a usage table of its own.
    let table = fresh_usage_table().await?;
    for kind in [Side::Ours, Side::Peer] {
        let extra = [("TENANTRY_USAGE_TABLE", table.as_str())];
        let (agent, _) = start_agent(&world, kind, subjects, None, &extra).await?;
        let before = world.sts.count("AssumeRole");
        let mut turns = Vec::new();
        for _ in 0..CONCURRENT {
            let session = world.new_session()?;
            turns.push(async {
                let session = session;
                turn(&http, &world, &agent, kind, &session).await
            });
        }
        for r in futures::future::join_all(turns).await {
            r?;
        }
        m[kind.slot()].assume_role_concurrent = world.sts.count("AssumeRole") - before;
    }

    progress(&format!(
        "agent: {warm_turns} warm turns each of the same binary, as deployed and without the usage table and the audit trail"
    ));
    let (added, added_own) = budget_and_audit_cost(&http, &world, subjects, warm_turns).await?;

    let pair = |f: &dyn Fn(&PerAgent) -> f64| (Some(f(&m[1])), f(&m[0]));
    let row = |metric: &str, unit: &str, (peer, ours): (Option<f64>, f64)| {
        Row::new(GROUP, metric, unit, peer, ours)
    };
    Ok(vec![
        row(
            "start to healthy /ping p50",
            "ms",
            pair(&|a| ms(a.start.p50())),
        )
        .target(Target::TimesLower(50.0)),
        row(
            "first turn after start p50",
            "ms",
            pair(&|a| ms(a.first_turn.p50())),
        ),
        row(
            "peak RSS after the warm turns",
            "MiB",
            pair(&|a| a.rss_kib as f64 / 1024.0),
        )
        .target(Target::TimesLower(10.0))
        .key(crate::cost::AGENT_RSS_MIB),
        row(
            "CPU time per warm turn (user and system, all threads)",
            "ms",
            pair(&|a| ms(a.cpu_per_turn)),
        )
        .key(crate::cost::AGENT_CPU_MS),
        row("warm turn p50", "us", pair(&|a| us(a.turn.p50()))),
        row("warm turn p99", "us", pair(&|a| us(a.turn.p99()))),
        row(
            "own time per turn p50 (turn minus upstream busy time and the /ping round trip)",
            "us",
            pair(&|a| us(a.own.p50())),
        )
        .target(Target::TimesLower(10.0)),
        row("own time per turn p99", "us", pair(&|a| us(a.own.p99()))),
        row(
            &format!("STS AssumeRole calls for {CONCURRENT} concurrent turns of one user"),
            "calls",
            pair(&|a| a.assume_role_concurrent as f64),
        )
        .target(Target::AtMost(1.0)),
        row(
            "warm turn p50 added by the token budget, the turn limit and the audit trail (as deployed minus without the usage table and the trail)",
            "us",
            (None, added),
        )
        .target(Target::AtMost(1000.0)),
        row(
            "the same, in the agent's own time (the stand-ins' busy time taken out) p50",
            "us",
            (None, added_own),
        ),
    ])
}

/// The same agent binary twice, one as deployed (the usage table: turn limit, token budget
/// reserve and settlement, usage count; the audit trail: each memory recall with records is
/// written before the model reads them) and one without both, taking turns in one run: the
/// difference of their warm turn p50s, and of their own time (the turn minus the stand-ins'
/// busy time) p50s, in microseconds, never below zero.
async fn budget_and_audit_cost(
    http: &reqwest::Client,
    world: &World,
    subjects: &Subjects,
    warm_turns: usize,
) -> anyhow::Result<(f64, f64)> {
    // A usage table of its own: the earlier sections' turns count against the same clinic's
    // daily token budget (the tier file's), and this one starts from zero.
    let table = fresh_usage_table().await?;
    let with = start_agent(
        world,
        Side::Ours,
        subjects,
        Some("ours-as-deployed"),
        &[("TENANTRY_USAGE_TABLE", table.as_str())],
    )
    .await?
    .0;
    let without = start_agent(
        world,
        Side::Ours,
        subjects,
        Some("ours-without-usage-and-audit"),
        &[
            ("TENANTRY_USAGE_TABLE", ""),
            ("TENANTRY_AUDIT_LOG_GROUP", ""),
        ],
    )
    .await?
    .0;
    let agents = [&with, &without];
    let mut turns = [Samples::default(), Samples::default()];
    let mut own = [Samples::default(), Samples::default()];
    let session = world.new_session()?;
    for agent in agents {
        turn(http, world, agent, Side::Ours, &session).await?;
        settled(http, agent, Side::Ours).await?;
    }
    for i in 0..warm_turns {
        let session = world.new_session()?;
        // Alternating which goes first, so neither always meets a warmer stand-in.
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for slot in order {
            let from = Instant::now();
            let d = turn(http, world, agents[slot], Side::Ours, &session).await?;
            let waited = busy_within(&world.busy(), from, Instant::now());
            settled(http, agents[slot], Side::Ours).await?;
            turns[slot].push(d);
            own[slot].push(d.saturating_sub(waited));
        }
    }
    let added = |s: &[Samples; 2]| (us(s[0].p50()) - us(s[1].p50())).max(0.0);
    Ok((added(&turns), added(&own)))
}

/// A new usage table on the DynamoDB stand-in: a section's turns start from a zero token
/// budget (one clinic's day holds 250 000 tokens on the basic tier).
async fn fresh_usage_table() -> anyhow::Result<String> {
    testkit::dynamo::create_usage_table(&Endpoints::from_env()?, "bench-budget")
        .await
        .map_err(|e| anyhow!("usage table: {e}"))
}
