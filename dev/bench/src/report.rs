//! The results of a run: rows of (metric, peer, ours, ratio, target), written as JSON for the
//! chart and as the Markdown table `docs/benchmarks.md` and the README show.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::profile::Profile;

/// What a row must show to meet its target.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Target {
    /// The peer's value divided by ours is at least this (ours is this many times lower).
    TimesLower(f64),
    /// Ours is at most this, in the row's unit.
    AtMost(f64),
}

impl Target {
    pub fn met(&self, row: &Row) -> bool {
        match *self {
            Target::TimesLower(x) => row.ratio().is_some_and(|r| r >= x),
            Target::AtMost(x) => row.ours <= x,
        }
    }

    fn describe(&self, unit: &str) -> String {
        match *self {
            Target::TimesLower(x) => format!(">= {x}x lower"),
            Target::AtMost(x) => format!("<= {x} {unit}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Which comparison: `functions` or `agent`.
    pub group: String,
    pub metric: String,
    pub unit: String,
    /// The peer's value; `None` where the row measures ours alone.
    pub peer: Option<f64>,
    pub ours: f64,
    pub target: Option<Target>,
    /// A name other parts of the report (the cost table) find the row by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Row {
    pub fn new(group: &str, metric: &str, unit: &str, peer: Option<f64>, ours: f64) -> Self {
        Self {
            group: group.into(),
            metric: metric.into(),
            unit: unit.into(),
            peer,
            ours,
            target: None,
            key: None,
        }
    }

    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Peer divided by ours: how many times lower ours is (every metric here is
    /// lower-is-better).
    pub fn ratio(&self) -> Option<f64> {
        self.peer
            .filter(|_| self.ours > 0.0)
            .map(|peer| peer / self.ours)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// One iteration of each measurement: the numbers mean nothing.
    pub smoke: bool,
    pub machine: String,
    pub versions: Vec<(String, String)>,
    pub warm_calls: usize,
    pub cold_starts: usize,
    /// Turns per agent under the latency profile.
    pub latency_turns: usize,
    pub profile: Profile,
    pub rows: Vec<Row>,
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Report {
    /// The table, one line per row.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| Metric | Peer (Python) | Tenantry (Rust) | Ratio (peer / ours) | Target | Met |\n\
             |---|---:|---:|---:|---|---|\n",
        );
        let mut group = "";
        for row in &self.rows {
            if row.group != group {
                group = &row.group;
                let title = match group {
                    "functions" => {
                        "tool-target vs the Python tool Lambda (boto3 under awslambdaric)"
                    }
                    "agent" => "agent-runtime vs the Strands agent (bedrock-agentcore app)",
                    "latency" => "agent-runtime vs the Strands agents, under the latency profile",
                    other => other,
                };
                let _ = writeln!(out, "| **{title}** | | | | | |");
            }
            let _ = writeln!(
                out,
                "| {} ({}) | {} | {} | {} | {} | {} |",
                row.metric,
                row.unit,
                row.peer.map_or_else(|| "-".into(), number),
                number(row.ours),
                row.ratio()
                    .map_or_else(|| "-".into(), |r| format!("{}x", number(r))),
                row.target
                    .as_ref()
                    .map_or_else(|| "-".into(), |t| t.describe(&row.unit)),
                row.target
                    .as_ref()
                    .map_or("-", |t| if t.met(row) { "yes" } else { "**no**" }),
            );
        }
        out
    }

    /// The machine and versions line.
    pub fn context(&self) -> String {
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        format!(
            "Machine: {}. Versions: {}. {} warm calls per measurement, {} cold starts each; \
             {} turns each under the latency profile ({}).",
            self.machine,
            versions.join(", "),
            self.warm_calls,
            self.cold_starts,
            self.latency_turns,
            self.profile.describe()
        )
    }
}

/// docs/benchmarks.md: what was measured and how, the table, the chart.
pub fn markdown(report: &Report) -> String {
    format!(
        "# Benchmarks\n\n\
         _Written by `scripts/bench.sh` from one run; do not edit by hand._\n\n\
         Tenantry's Rust functions and agent beside BENCHMARK PEERS of the published Python \
         design of this architecture, written for the benchmark only (`dev/bench/peers`, never \
         deployed): a Python 3.11 + boto3 tool Lambda under `awslambdaric`, and a Strands agent \
         served by the `bedrock-agentcore` app. Same machine, same local stand-ins (STS on moto, \
         DynamoDB on dynalite, the model stand-in, the Gateway, Memory and Guardrails emulations), \
         same requests, runs interleaved call by call so machine noise hits both. Absolute times \
         on a shared machine are noise; the ratios are the result.\n\n\
         {}\n\n{}\n![Ratios: how many times lower ours is](benchmarks.png)\n\n\
         ## What the compute costs\n\n{}\n\
         ## How each row is measured\n\n\
         - Functions run under the harness's local Lambda Runtime API (`/next` with request id, \
         deadline, function ARN, trace id and client context; keep-alive), fed AgentCore \
         Gateway-shaped calls of four tenant users (two premium `patient_context` lists, two \
         basic `clinic_config` reads). Both verify the ID token against the JWKS (ours remembers \
         a verified token until it expires, at most five minutes; the peer, as the published \
         design, verifies it on every call), assume the tenant role with session tags and keep \
         the credentials and a DynamoDB client per tenant user; every reply is checked.\n\
         - Cold start: process spawn to the last byte of the first reply (its JWKS fetch, STS and \
         DynamoDB calls included). Both are told the system's CA bundle file (`SSL_CERT_FILE`), \
         as Lambda's image keeps its roots in one bundle; botocore reads its own bundle file \
         either way. Without it ours also reads this machine's certificate directory (on Debian \
         146 files besides the bundle): the row \"with this machine's CA store layout\". Peak \
         RSS: `VmHWM` after the warm calls.\n\
         - TLS rows: DynamoDB behind a TLS front per function (TEST-ONLY certificate) that counts \
         connections, as every AWS endpoint is TLS.\n\
         - Own time: a call's latency minus the time DynamoDB or STS were busy during it (at \
         counting proxies in front of them) minus the Runtime API round trip of a call refused \
         before any work. It still holds the loopback hops to the proxies.\n\
         - In-process rows: tool-target's real handler in the harness's own process, measured \
         first in the run while nothing else of it is alive, on one thread as the function \
         runs, with its real SDK clients over an HTTP connector that answers STS and DynamoDB \
         from memory (replies built once); the harness profile (opt-level 3, no LTO).\n\
         - Agents: both are processes speaking the AgentCore Runtime contract, with every \
         upstream answering at once; a turn is guardrail on the prompt, memory credentials \
         (one AssumeRole per user, cached), ListEvents, RetrieveMemoryRecords, an MCP session to \
         the Gateway with one tool call, two model rounds, guardrail on the answer, CreateEvent. \
         Own time per turn: latency minus the time any upstream was busy (parallel calls count \
         once) minus a `/ping` round trip. The peer does less per turn than agent-runtime (no \
         check that the session was issued to the user, no token budget, no usage record).\n\
         - Latency profile: every dependency answers after the profile's delay (the counting \
         proxies hold each request; the tool target waits the Lambda invoke; the model stand-in \
         waits its time to first token and writes at the profile's speed, a token being 4 \
         characters). The defaults are the planning profile the latency work was specified \
         with, estimates rather than measurements on AWS (`--profile` changes them). Three \
         agents take turns, each warm turn asked for a streamed answer: agent-runtime; the \
         Strands peer with the published sample's hooks, which checks the whole answer before \
         it answers (so its first byte is its whole answer); and the minimal Strands peer \
         (Gateway tools and model only, its text streamed). Every fifth turn opens a new \
         session: its round trips are the \"session's first turn\" row, and it is left out of \
         the other rows. First answer byte and whole answer are timed at the client; round \
         trips before the first model request are the longest chain of requests at the \
         proxies, each starting after the previous one ended; `/ping` is asked every 20 ms \
         while a turn runs. The floor is what the first byte cannot beat: the input check \
         (nothing reaches the model unchecked), the model's whole first round (it picks the \
         tool), the tool call through the Gateway and its Lambda, the final round's time to \
         first token and to write the first window, and that window's output check (nothing \
         reaches the client unchecked). A ratio goal against a peer cannot be met when the \
         peer's time divided by the goal is below that floor: the minimal peer makes neither \
         guardrail check (two checks of the profile, on the path of any agent that makes \
         them), and the hooks peer's first byte is its whole answer.\n\
         - STS: AssumeRole calls counted at the stand-in; for the agents, on a fresh process \
         serving 32 turns of one user at once.\n\
         - Not measured here: binary sizes (see the README), and anything on AWS itself \
         (Lambda's own cold start work, network latency).\n",
        report.context(),
        report.table(),
        crate::cost::table(report).unwrap_or_else(|| "(not in this run: it needs the \
            functions, agent and latency suites)\n"
            .into())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_targets() {
        let row = Row::new("functions", "cold start p50", "ms", Some(240.0), 10.0)
            .target(Target::TimesLower(20.0));
        assert_eq!(row.ratio(), Some(24.0));
        assert!(row.target.unwrap().met(&row));
        let slow = Row::new("functions", "warm p50", "us", Some(300.0), 200.0)
            .target(Target::TimesLower(2.0));
        assert!(!slow.target.unwrap().met(&slow));
        let own =
            Row::new("functions", "overhead p99", "us", None, 120.0).target(Target::AtMost(100.0));
        assert_eq!(own.ratio(), None);
        assert!(!own.target.unwrap().met(&own));
        let report = Report {
            smoke: false,
            machine: "m".into(),
            versions: vec![],
            warm_calls: 1,
            cold_starts: 1,
            latency_turns: 1,
            profile: Profile::PLANNING,
            rows: vec![row, slow, own],
        };
        let table = report.table();
        assert!(
            table.contains("| cold start p50 (ms) | 240 | 10.0 | 24.0x | >= 20x lower | yes |"),
            "{table}"
        );
        assert!(table.contains("| **no** |"), "{table}");
    }
}
