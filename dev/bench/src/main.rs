//! `tenantry-bench`: tool-target and agent-runtime measured side by side with BENCHMARK PEERS
//! (`dev/bench/peers`: the published Python design, written for the benchmark only, never
//! deployed), on the same machine, the same local stand-ins, the same requests, runs
//! interleaved, reported as ratios. `scripts/bench.sh` runs it and writes docs/benchmarks.md;
//! the test command runs it with `--smoke` (one call of each kind) so it keeps working.

mod agent;
mod cost;
mod functions;
mod in_process;
mod latency;
mod process;
mod profile;
mod report;
mod side;
mod stats;

use anyhow::Context as _;
use anyhow::anyhow;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use report::Report;

/// One side of a comparison misbehaved: a failed run, not a slow one.
pub fn failed(who: &str, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{who} failed: {what}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    All,
    Functions,
    Agent,
    /// The agents under the latency profile: first answer byte, whole answer, round trips.
    Latency,
    /// Only tool-target's handler in one process (no peers, no stand-ins): a quick look at its
    /// own time while working on it.
    InProcess,
}

/// Measures tool-target and agent-runtime beside the Python peers of the published design, on
/// the local stand-ins (start them first: scripts/standins.sh start). scripts/bench.sh runs
/// this with release binaries and writes docs/benchmarks.md.
#[derive(Debug, Parser)]
#[command(name = "tenantry-bench")]
struct Args {
    /// One call of each kind: checks that the harness and the peers work; the numbers mean
    /// nothing.
    #[arg(long)]
    smoke: bool,
    /// Which comparison to run.
    #[arg(long, value_enum, default_value_t = Suite::All)]
    suite: Suite,
    /// Warm calls per function or agent and measurement.
    #[arg(long, default_value_t = 300)]
    warm: usize,
    /// Cold starts per function or agent.
    #[arg(long, default_value_t = 10)]
    cold: usize,
    /// Turns per agent under the latency profile (every fifth opens a new session).
    #[arg(long, default_value_t = 40)]
    latency_turns: usize,
    /// The latency profile, as `dependency=milliseconds,...` over the planning defaults:
    /// gateway=25, memory=30, guardrail=120, lambda=30, dynamodb=5, first-token=400,
    /// per-10-tokens=20.
    #[arg(long, default_value = "", value_parser = profile::Profile::parse)]
    profile: profile::Profile,
    /// Where tool-target and agent-runtime are (default: next to this program, so the same
    /// build profile).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The Python of the peers' virtual environment (scripts/install-standins.sh makes it).
    #[arg(long, default_value = ".tools/bench-venv/bin/python")]
    python: PathBuf,
    /// Where the processes under test log.
    #[arg(long, default_value = ".tools/run/bench")]
    log_dir: PathBuf,
    /// Write the results as JSON here (for the chart).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the results table as Markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Replace the table in this file between the markers `<!-- bench:begin -->` and
    /// `<!-- bench:end -->` (the README shows it).
    #[arg(long)]
    readme: Option<PathBuf>,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or_else(String::new, |kib| format!(", {} GiB", kib / 1024 / 1024));
    format!("{cpu}, {cores} cores{memory}, {}", std::env::consts::ARCH)
}

fn versions(python: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(o) = std::process::Command::new("rustc")
        .arg("--version")
        .output()
    {
        let v = String::from_utf8_lossy(&o.stdout);
        if let Some(v) = v.split_whitespace().nth(1) {
            out.push(("rustc".into(), v.to_owned()));
        }
    }
    let script = "import importlib.metadata as m, platform\n\
                  print('Python', platform.python_version())\n\
                  for p in ('boto3', 'awslambdaric', 'strands-agents', 'bedrock-agentcore'):\n\
                  \x20   print(p, m.version(p))";
    if let Ok(o) = std::process::Command::new(python)
        .args(["-c", script])
        .output()
    {
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some((k, v)) = line.split_once(' ') {
                out.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    out
}

async fn run(args: Args) -> anyhow::Result<Report> {
    let bin_dir = match args.bin_dir {
        Some(d) => d,
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .ok_or_else(|| anyhow!("cannot locate the build directory"))?,
    };
    if !args.python.exists() {
        return Err(anyhow!(
            "no peer Python at {}: run scripts/install-standins.sh",
            args.python.display()
        ));
    }
    let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    std::fs::create_dir_all(&args.log_dir)
        .with_context(|| format!("create {}", args.log_dir.display()))?;
    let peers = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/peers"));
    let (warm, cold) = if args.smoke {
        (1, 1)
    } else {
        (args.warm, args.cold)
    };
    let mut progress = |line: &str| println!("==> {line}");
    let mut rows = Vec::new();
    // Measured first, while nothing else of the run is alive (it is the finest measure), and
    // reported after the function rows.
    let in_process = if matches!(args.suite, Suite::All | Suite::Functions | Suite::InProcess) {
        in_process::run(warm * 20, &mut progress).await?
    } else {
        Vec::new()
    };
    let subjects = |ours: &str, peer: &str| side::Subjects {
        ours: bin_dir.join(ours),
        python: absolute(&args.python),
        peer_dir: peers.join(peer),
        log_dir: absolute(&args.log_dir),
    };
    if matches!(args.suite, Suite::All | Suite::Functions) {
        let subjects = subjects("tool-target", "tool_lambda");
        rows.extend(functions::run(&subjects, warm, cold, &mut progress).await?);
    }
    rows.extend(in_process);
    if matches!(args.suite, Suite::All | Suite::Agent) {
        let subjects = subjects("agent-runtime", "strands_agent");
        rows.extend(agent::run(&subjects, warm, cold, &mut progress).await?);
    }
    let latency_turns = if args.smoke { 2 } else { args.latency_turns };
    if matches!(args.suite, Suite::All | Suite::Latency) {
        let subjects = subjects("agent-runtime", "strands_agent");
        rows.extend(latency::run(&subjects, latency_turns, args.profile, &mut progress).await?);
    }
    Ok(Report {
        smoke: args.smoke,
        machine: machine(),
        versions: versions(&args.python),
        warm_calls: warm,
        cold_starts: cold,
        latency_turns,
        profile: args.profile,
        rows,
    })
}

fn write(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// Puts the run's context and table between the README's markers.
fn update_readme(path: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    const BEGIN: &str = "<!-- bench:begin -->";
    const END: &str = "<!-- bench:end -->";
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(anyhow!(
            "{} has no {BEGIN} ... {END} markers",
            path.display()
        ));
    };
    let updated = format!(
        "{}{BEGIN}\n{}\n\n{}{}",
        &text[..b],
        report.context(),
        report.table(),
        &text[e..]
    );
    write(path, &updated)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let (json, markdown, readme, smoke) = (
        args.json.clone(),
        args.markdown.clone(),
        args.readme.clone(),
        args.smoke,
    );
    let report = match run(args).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!("\n{}\n{}", report.context(), report.table());
    if smoke {
        println!("(smoke run: one call of each kind; the numbers mean nothing)");
    }
    let written = json
        .map(|p| {
            serde_json::to_string_pretty(&report)
                .map_err(|e| anyhow!("{e}"))
                .and_then(|t| write(&p, &t))
        })
        .transpose()
        .and_then(|_| {
            markdown
                .map(|p| write(&p, &report::markdown(&report)))
                .transpose()
        })
        .and_then(|_| readme.map(|p| update_readme(&p, &report)).transpose());
    match written {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
