//! tool-target beside the BENCHMARK PEER tool Lambda (Python 3.11 + boto3 under awslambdaric),
//! both under the same local Lambda Runtime API (`emulators::function_host`), fed the same
//! AgentCore-Gateway-shaped invocations, against the same stand-ins: STS on moto and DynamoDB
//! on dynalite, each behind a counting proxy (and, for the TLS rows, behind a TLS front per
//! function that counts connections, as every AWS endpoint is TLS).
//!
//! Runs are interleaved call by call (ours, peer, peer, ours, ...) so machine noise hits both.

use anyhow::Context as _;
use anyhow::anyhow;
use std::time::{Duration, Instant};

use contracts::ToolCallContext;
use contracts::headers;
use emulators::counting_proxy::{CountingProxy, busy_within};
use emulators::function_host::{FunctionHost, Reply};
use emulators::tls_proxy::TlsProxy;
use serde_json::{Value, json};
use testkit::Endpoints;
use testkit::test_issuer::{self, AUDIENCE, ISSUER};

use crate::process::peak_rss_kib;
use crate::report::{Row, Target};
use crate::side::{Side, Subjects, order};
use crate::stats::{Samples, ms, us};

fn name(side: Side) -> &'static str {
    match side {
        Side::Ours => "tool-target",
        Side::Peer => "peer-tool-lambda",
    }
}

const GROUP: &str = "functions";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/tenantry-tenant-data";
/// (tier, clinic, tool): premium lists read patients only; basic clinic_config reads its row.
const CALLS: [(&str, &str, &str); 4] = [
    ("premium", "hospital-x", "patient_context"),
    ("premium", "hospital-y", "patient_context"),
    ("basic", "clinic-a", "clinic_config"),
    ("basic", "clinic-b", "clinic_config"),
];

/// One Gateway call: its client context and what its reply must show.
struct Call {
    client_context: String,
    clinic: &'static str,
    tool: &'static str,
}

struct World {
    _idp: wiremock::MockServer,
    jwks_url: String,
    tables: testkit::dynamo::LocalTables,
    registry_table: String,
    /// The audit trail's log group and CloudWatch Logs (moto) behind a counting proxy: ours
    /// records each patient-data call before answering it, as deployed, and the time moto
    /// takes is the stand-in's, not the function's own.
    audit_group: String,
    logs: CountingProxy,
    dynamodb: CountingProxy,
    sts: [CountingProxy; 2],
    tls: [TlsProxy; 2],
    calls: Vec<Call>,
    page_token_key: String,
}

/// A Gateway call's client context as AgentCore sends it, for `tool` on `tier`.
pub fn client_context(tier: &str, clinic: &str, tool: &str) -> String {
    // One user per clinic, so credentials are per tenant user as in production.
    let mut claims = test_issuer::id_claims();
    claims["custom:tier"] = tier.into();
    claims["custom:clinic_id"] = clinic.into();
    claims["sub"] = format!("user-of-{clinic}").into();
    let headers = [
        (headers::ID_TOKEN, test_issuer::sign(&claims)),
        (headers::TIER, tier.to_owned()),
        (headers::CLINIC_ID, clinic.to_owned()),
        (headers::S3_PREFIX, format!("{tier}-tier/{clinic}/")),
    ];
    ToolCallContext {
        gateway_id: Some("gw-bench".into()),
        mcp_message_id: Some("1".into()),
        ..ToolCallContext::new(
            &format!("tenantry-{tier}-tools"),
            tool,
            headers.map(|(k, v)| (k.to_owned(), v)),
        )
    }
    .to_client_context()
}

impl World {
    async fn start() -> anyhow::Result<Self> {
        let endpoints = Endpoints::from_env()?;
        let dynalite = endpoints
            .dynamodb_url
            .clone()
            .ok_or_else(|| anyhow!("no DynamoDB stand-in: scripts/standins.sh start"))?;
        let dynamodb = CountingProxy::start(&dynalite).await?;
        let sts = [
            CountingProxy::start(&endpoints.moto_url).await?,
            CountingProxy::start(&endpoints.moto_url).await?,
        ];
        let tls = [
            TlsProxy::start(&dynamodb.address()).await?,
            TlsProxy::start(&dynamodb.address()).await?,
        ];
        let tables = testkit::dynamo::create_and_load(&endpoints, "bench").await?;
        let registry_table = testkit::dynamo::create_demo_registry(&endpoints, "bench").await?;
        let audit_group = testkit::audit_group::create(&endpoints, "bench").await?;
        let idp = test_issuer::jwks_server().await;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).context("randomness")?;
        use base64::Engine as _;
        Ok(Self {
            jwks_url: test_issuer::jwks_url(&idp),
            _idp: idp,
            tables,
            registry_table,
            audit_group,
            logs: CountingProxy::start(&endpoints.moto_url).await?,
            dynamodb,
            sts,
            tls,
            calls: CALLS
                .iter()
                .map(|&(tier, clinic, tool)| Call {
                    client_context: client_context(tier, clinic, tool),
                    clinic,
                    tool,
                })
                .collect(),
            page_token_key: base64::engine::general_purpose::STANDARD.encode(key),
        })
    }

    /// The function's environment, as on Lambda (the Runtime API variables are added by the
    /// host). Both read the same tables through the same stand-ins.
    fn env(&self, kind: Side, certs: Certs, subjects: &Subjects) -> Vec<(String, String)> {
        let certificate = emulators_certificate();
        let tls = certs == Certs::Tls;
        let mut env: Vec<(&str, String)> = vec![
            ("AWS_REGION", testkit::STANDIN_REGION.into()),
            ("AWS_DEFAULT_REGION", testkit::STANDIN_REGION.into()),
            ("AWS_ACCESS_KEY_ID", "standin".into()),
            ("AWS_SECRET_ACCESS_KEY", "standin".into()),
            ("AWS_ENDPOINT_URL_STS", self.sts[kind.slot()].url()),
            (
                "AWS_ENDPOINT_URL_DYNAMODB",
                if tls {
                    self.tls[kind.slot()].url()
                } else {
                    self.dynamodb.url()
                },
            ),
            ("TENANTRY_TOKEN_ISSUER", ISSUER.into()),
            ("TENANTRY_TOKEN_AUDIENCE", AUDIENCE.into()),
            ("TENANTRY_JWKS_URL", self.jwks_url.clone()),
            ("TENANTRY_TVM_ROLE_ARN", ROLE_ARN.into()),
            ("TENANTRY_PATIENT_TABLE", self.tables.patient_table.clone()),
            ("TENANTRY_CLINIC_TABLE", self.tables.clinic_table.clone()),
            ("TENANTRY_REGISTRY_TABLE", self.registry_table.clone()),
        ];
        // The CA store as Lambda's image lays it out: one bundle file. Python's botocore reads
        // its own bundle file (certifi) whatever this says; rustls-native-certs reads the file
        // named here instead of the platform's defaults.
        if let (Certs::Bundle, Some(bundle)) = (certs, system_ca_bundle()) {
            env.push(("SSL_CERT_FILE", bundle.to_owned()));
        }
        match kind {
            Side::Ours => {
                env.push(("TENANTRY_CREDENTIALS_SOURCE", "sts".into()));
                env.push(("TENANTRY_PAGE_TOKEN_KEY", self.page_token_key.clone()));
                env.push(("TENANTRY_AUDIT_LOG_GROUP", self.audit_group.clone()));
                env.push(("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", self.logs.url()));
                env.push(("RUST_LOG", "warn".into()));
                if tls {
                    env.push(("SSL_CERT_FILE", certificate));
                }
            }
            Side::Peer => {
                env.push(("PYTHONPATH", crate::side::peer_path(&subjects.peer_dir)));
                env.push(("PYTHONDONTWRITEBYTECODE", "1".into()));
                if tls {
                    env.push(("AWS_CA_BUNDLE", certificate));
                }
            }
        }
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    async fn start_function(
        &self,
        kind: Side,
        certs: Certs,
        subjects: &Subjects,
    ) -> anyhow::Result<FunctionHost> {
        let env = self.env(kind, certs, subjects);
        let log = subjects.log_dir.join(format!("{}.log", name(kind)));
        let host = match kind {
            Side::Ours => FunctionHost::start(&subjects.ours, name(kind), &env, &log).await,
            Side::Peer => {
                FunctionHost::start_command(
                    &subjects.python,
                    &["-m", "awslambdaric", "handler.handler"],
                    name(kind),
                    &env,
                    &log,
                )
                .await
            }
        };
        Ok(host?)
    }
}

/// Which root certificates a function is told to trust, and so where DynamoDB is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Certs {
    /// The system's CA bundle file only (`SSL_CERT_FILE`), as Lambda's image has one file;
    /// DynamoDB over plain HTTP.
    Bundle,
    /// Nothing set: the platform's defaults of this machine (on Debian the bundle and a
    /// directory of 146 certificate files); DynamoDB over plain HTTP.
    Platform,
    /// The TLS front's TEST-ONLY certificate; DynamoDB behind the TLS front.
    Tls,
}

/// The system's CA bundle file, where the common Linux layouts keep it.
fn system_ca_bundle() -> Option<&'static str> {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).is_file())
}

/// The TEST-ONLY certificate of the TLS front, as a file both runtimes can be told to trust.
fn emulators_certificate() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../emulators/fixtures/tls/localhost.crt"
    )
    .to_owned()
}

/// One invocation, timed from queueing to the last byte of the reply.
async fn invoke(
    host: &FunctionHost,
    kind: Side,
    client_context: Option<&str>,
) -> anyhow::Result<(Duration, Value)> {
    let began = Instant::now();
    let mut rx = host
        .invoke_with_context(json!({}), client_context.map(str::to_owned))
        .await?;
    let mut body = Vec::new();
    let reply = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(part) = rx.recv().await {
            match part {
                Reply::Chunk(c) => body.extend_from_slice(&c),
                Reply::Failed(e) => return Err(crate::failed(name(kind), e.to_string())),
            }
        }
        Ok(())
    })
    .await;
    let elapsed = began.elapsed();
    match reply {
        Err(_) => Err(crate::failed(name(kind), "no reply within 60 s")),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => {
            let value = serde_json::from_slice(&body)
                .map_err(|e| crate::failed(name(kind), format!("reply is not JSON ({e})")))?;
            Ok((elapsed, value))
        }
    }
}

/// Both functions must give the same answer, or the comparison means nothing.
fn check(kind: Side, call: &Call, reply: &Value) -> anyhow::Result<()> {
    let ok = match call.tool {
        "patient_context" => reply["count"].as_u64().is_some_and(|n| n > 0),
        _ => reply["clinic"]["clinic_id"] == call.clinic,
    };
    if ok && reply.get("error").is_none() {
        Ok(())
    } else {
        Err(crate::failed(
            name(kind),
            format!(
                "{} for {}: unexpected reply {reply}",
                call.tool, call.clinic
            ),
        ))
    }
}

#[derive(Default)]
struct Warm {
    latency: Samples,
    /// Latency minus DynamoDB and STS busy time minus the Runtime API floor.
    own: Samples,
    floor: Samples,
}

struct WarmRun {
    warm: [Warm; 2],
    rss_kib: [u64; 2],
    connections: [usize; 2],
    assume_role: [usize; 2],
}

async fn warm_run(
    world: &World,
    subjects: &Subjects,
    certs: Certs,
    calls: usize,
) -> anyhow::Result<WarmRun> {
    let hosts = [
        world.start_function(Side::Ours, certs, subjects).await?,
        world.start_function(Side::Peer, certs, subjects).await?,
    ];
    let connections_before = [world.tls[0].connections(), world.tls[1].connections()];
    let sts_before = [
        world.sts[0].count("AssumeRole"),
        world.sts[1].count("AssumeRole"),
    ];
    // Warm up: every tenant once (credentials vended, keys fetched, connections open).
    for kind in [Side::Ours, Side::Peer] {
        for call in &world.calls {
            let (_, reply) = invoke(&hosts[kind.slot()], kind, Some(&call.client_context)).await?;
            check(kind, call, &reply)?;
        }
    }
    let mut warm = [Warm::default(), Warm::default()];
    // The Runtime API's own round trip: a call refused before any work (no client context).
    for i in 0..calls.div_ceil(4) {
        for kind in order(i) {
            let (d, reply) = invoke(&hosts[kind.slot()], kind, None).await?;
            if reply.get("error").is_none() {
                return Err(crate::failed(
                    name(kind),
                    format!("a call without a tool was answered: {reply}"),
                ));
            }
            warm[kind.slot()].floor.push(d);
        }
    }
    let floor = [warm[0].floor.p50(), warm[1].floor.p50()];
    for i in 0..calls {
        let call = &world.calls[i % world.calls.len()];
        for kind in order(i) {
            let from = Instant::now();
            let (d, reply) = invoke(&hosts[kind.slot()], kind, Some(&call.client_context)).await?;
            let to = Instant::now();
            check(kind, call, &reply)?;
            let mut busy = world.dynamodb.busy();
            busy.extend(world.sts[kind.slot()].busy());
            busy.extend(world.logs.busy());
            let waited = busy_within(&busy, from, to);
            let w = &mut warm[kind.slot()];
            w.latency.push(d);
            w.own
                .push(d.saturating_sub(waited).saturating_sub(floor[kind.slot()]));
        }
    }
    let rss = |k: Side| peak_rss_kib(hosts[k.slot()].pid()).unwrap_or_default();
    Ok(WarmRun {
        rss_kib: [rss(Side::Ours), rss(Side::Peer)],
        connections: [
            world.tls[0].connections() - connections_before[0],
            world.tls[1].connections() - connections_before[1],
        ],
        assume_role: [
            world.sts[0].count("AssumeRole") - sts_before[0],
            world.sts[1].count("AssumeRole") - sts_before[1],
        ],
        warm,
    })
}

/// Runs every function measurement; `progress` gets one line per step.
pub async fn run(
    subjects: &Subjects,
    warm_calls: usize,
    cold_starts: usize,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<Row>> {
    let world = World::start().await?;

    progress(&format!(
        "functions: {cold_starts} cold starts each (spawn to the first reply, with its STS and DynamoDB calls)"
    ));
    let mut cold = [Samples::default(), Samples::default()];
    let mut cold_own = [Samples::default(), Samples::default()];
    // Ours again with this machine's own CA store layout, to show what the layout costs.
    let mut cold_platform = Samples::default();
    let cold_start = async |kind: Side, certs: Certs| -> anyhow::Result<(Duration, Duration)> {
        let call = &world.calls[0];
        let began = Instant::now();
        let host = world.start_function(kind, certs, subjects).await?;
        let (_, reply) = invoke(&host, kind, Some(&call.client_context)).await?;
        let took = began.elapsed();
        check(kind, call, &reply)?;
        let mut busy = world.dynamodb.busy();
        busy.extend(world.sts[kind.slot()].busy());
        busy.extend(world.logs.busy());
        Ok((took, busy_within(&busy, began, began + took)))
    };
    for i in 0..cold_starts {
        for kind in order(i) {
            let (took, waited) = cold_start(kind, Certs::Bundle).await?;
            cold[kind.slot()].push(took);
            cold_own[kind.slot()].push(took.saturating_sub(waited));
        }
        cold_platform.push(cold_start(Side::Ours, Certs::Platform).await?.0);
    }

    progress(&format!(
        "functions: {warm_calls} warm calls each, DynamoDB over plain HTTP"
    ));
    let plain = warm_run(&world, subjects, Certs::Bundle, warm_calls).await?;
    progress(&format!(
        "functions: {warm_calls} warm calls each, DynamoDB over TLS"
    ));
    let tls = warm_run(&world, subjects, Certs::Tls, warm_calls).await?;

    let pair = |f: &dyn Fn(usize) -> f64| (Some(f(1)), f(0));
    let row = |metric: &str, unit: &str, (peer, ours): (Option<f64>, f64)| {
        Row::new(GROUP, metric, unit, peer, ours)
    };
    Ok(vec![
        row("cold start p50", "ms", pair(&|k| ms(cold[k].p50()))).target(Target::TimesLower(20.0)),
        row(
            "cold start p50 without the STS and DynamoDB stand-ins' busy time",
            "ms",
            pair(&|k| ms(cold_own[k].p50())),
        ),
        row(
            "cold start p50 with this machine's CA store layout instead of one bundle file",
            "ms",
            (None, ms(cold_platform.p50())),
        ),
        row(
            "peak RSS after the warm calls",
            "MiB",
            pair(&|k| plain.rss_kib[k] as f64 / 1024.0),
        )
        .target(Target::TimesLower(4.0)),
        row(
            "warm call p50, DynamoDB over HTTP",
            "us",
            pair(&|k| us(plain.warm[k].latency.p50())),
        ),
        row(
            "warm call p99, DynamoDB over HTTP",
            "us",
            pair(&|k| us(plain.warm[k].latency.p99())),
        ),
        row(
            "warm call p50, DynamoDB over TLS",
            "us",
            pair(&|k| us(tls.warm[k].latency.p50())),
        )
        .target(Target::TimesLower(2.0))
        .key(crate::cost::TOOL_CALL_US),
        row(
            "warm call p99, DynamoDB over TLS",
            "us",
            pair(&|k| us(tls.warm[k].latency.p99())),
        )
        .target(Target::TimesLower(2.0)),
        row(
            "own time per call p50 (without DynamoDB, STS, CloudWatch Logs and the Runtime API hop)",
            "us",
            pair(&|k| us(plain.warm[k].own.p50())),
        ),
        row(
            "own time per call p99 (without DynamoDB, STS, CloudWatch Logs and the Runtime API hop)",
            "us",
            pair(&|k| us(plain.warm[k].own.p99())),
        )
        .target(Target::AtMost(100.0)),
        row(
            "Runtime API round trip p50 (call refused before any work)",
            "us",
            pair(&|k| us(plain.warm[k].floor.p50())),
        ),
        row(
            &format!(
                "TLS connections opened over {} calls",
                tls.warm[0].latency.len() + CALLS.len()
            ),
            "connections",
            pair(&|k| tls.connections[k] as f64),
        ),
        row(
            &format!(
                "STS AssumeRole calls over {} calls of {} tenant users",
                plain.warm[0].latency.len() + CALLS.len(),
                CALLS.len()
            ),
            "calls",
            pair(&|k| plain.assume_role[k] as f64),
        )
        .target(Target::AtMost(CALLS.len() as f64)),
    ])
}
