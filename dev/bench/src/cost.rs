//! What the measured durations and memory cost at AWS's list prices: Lambda for the tool calls
//! and the front door, AgentCore Runtime for the agents' turns. Read from the report's rows
//! (by key), so the table always matches the run it is printed with.

use std::fmt::Write as _;

use infra_template::FunctionId;

use crate::report::Report;

/// Row keys the cost table reads.
pub const TOOL_CALL_US: &str = "tool_call_us";
pub const AGENT_RSS_MIB: &str = "agent_rss_mib";
pub const AGENT_CPU_MS: &str = "agent_cpu_ms";
pub const TURN_MS: &str = "turn_ms";

/// List prices, US East (N. Virginia), as read on the date given. AWS renders its pricing pages
/// client-side, so they were read from dated copies of them: check the pages before relying on
/// them.
pub struct Prices {
    pub as_of: &'static str,
    pub lambda_arm64_gb_s: f64,
    pub lambda_x86_gb_s: f64,
    pub lambda_per_million_requests: f64,
    pub runtime_vcpu_hour: f64,
    pub runtime_gb_hour: f64,
    /// AgentCore Runtime bills at least this much memory.
    pub runtime_min_mib: f64,
}

pub const PRICES: Prices = Prices {
    as_of: "2026-12 (Lambda: aws.amazon.com/lambda/pricing; AgentCore Runtime: \
            aws.amazon.com/bedrock/agentcore/pricing, the first platform version's rates as \
            quoted from August to October 2026)",
    lambda_arm64_gb_s: 0.000_013_333_4,
    lambda_x86_gb_s: 0.000_016_666_7,
    lambda_per_million_requests: 0.20,
    runtime_vcpu_hour: 0.0895,
    runtime_gb_hour: 0.009_45,
    runtime_min_mib: 128.0,
};

/// A Lambda function's size and architecture.
struct Function {
    what: String,
    mib: f64,
    arm64: bool,
}

/// Ours, as the template deploys it.
fn ours(id: FunctionId) -> Function {
    let f = infra_template::FUNCTIONS.iter().find(|f| f.id == id);
    let mib = f.map_or(0, |f| f.memory_mb);
    Function {
        what: format!(
            "{}, {mib} MB {}",
            f.map_or("?", |f| f.name),
            infra_template::ARCHITECTURE
        ),
        mib: f64::from(mib),
        arm64: infra_template::ARCHITECTURE == "arm64",
    }
}

/// The published sample's functions set no memory size or architecture: CloudFormation's
/// defaults, 128 MB on x86_64.
fn sample(what: &str) -> Function {
    Function {
        what: format!("the sample's {what} Lambda, 128 MB x86_64"),
        mib: 128.0,
        arm64: false,
    }
}

/// GB-seconds and dollars for a million invocations of `f` lasting `ms` each (billed per
/// started millisecond).
fn lambda_million(f: &Function, ms: f64) -> (f64, f64) {
    let gb_s = ms.ceil() / 1000.0 * f.mib / 1024.0 * 1e6;
    let price = if f.arm64 {
        PRICES.lambda_arm64_gb_s
    } else {
        PRICES.lambda_x86_gb_s
    };
    (gb_s, gb_s * price + PRICES.lambda_per_million_requests)
}

fn find(report: &Report, key: &str) -> Option<(f64, f64)> {
    report
        .rows
        .iter()
        .find(|r| r.key.as_deref() == Some(key))
        .and_then(|r| r.peer.map(|peer| (r.ours, peer)))
}

fn dollars(v: f64) -> String {
    if v >= 1.0 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
}

/// The cost table (Markdown), or `None` when the run lacks a row it needs (a partial suite).
pub fn table(report: &Report) -> Option<String> {
    let (tool_ours_us, tool_peer_us) = find(report, TOOL_CALL_US)?;
    let (rss_ours, rss_peer) = find(report, AGENT_RSS_MIB)?;
    let (cpu_ours, cpu_peer) = find(report, AGENT_CPU_MS)?;
    let (turn_ours, turn_peer) = find(report, TURN_MS)?;
    let dynamodb = report.profile.dynamodb as f64;
    let mut out = String::from(
        "| Compute | Tenantry | | Python design | | Ratio |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    let mut line = |what: &str, unit: &str, ours: (f64, f64), peer: (f64, f64)| {
        let ratio = if ours.1 > 0.0 { peer.1 / ours.1 } else { 0.0 };
        let _ = writeln!(
            out,
            "| {what} | {:.1} {unit} | {} | {:.1} {unit} | {} | {ratio:.2}x |",
            ours.0,
            dollars(ours.1),
            peer.0,
            dollars(peer.1)
        );
    };
    // A tool call: the measured warm call plus one DynamoDB round trip of the profile.
    let tool = |us: f64| us / 1000.0 + dynamodb;
    let (tool_target, sample_tool) = (ours(FunctionId::ToolTarget), sample("tool"));
    line(
        &format!(
            "a million tool calls ({} vs {})",
            tool_target.what, sample_tool.what
        ),
        "GB-s",
        lambda_million(&tool_target, tool(tool_ours_us)),
        lambda_million(&sample_tool, tool(tool_peer_us)),
    );
    let (proxy, sample_proxy) = (ours(FunctionId::RequestProxy), sample("proxy"));
    line(
        &format!(
            "a million front-door questions ({} vs {}, each held for the whole answer)",
            proxy.what, sample_proxy.what
        ),
        "GB-s",
        lambda_million(&proxy, turn_ours),
        lambda_million(&sample_proxy, turn_peer),
    );
    let vcpu = |cpu_ms: f64| {
        let hours = cpu_ms * 1000.0 / 3.6e6;
        (hours, hours * PRICES.runtime_vcpu_hour)
    };
    line(
        "a thousand turns on AgentCore Runtime: CPU (billed only while used)",
        "vCPU-s",
        {
            let (h, usd) = vcpu(cpu_ours);
            (h * 3600.0, usd)
        },
        {
            let (h, usd) = vcpu(cpu_peer);
            (h * 3600.0, usd)
        },
    );
    let billed_gb = |rss: f64| rss.max(PRICES.runtime_min_mib) / 1024.0;
    let memory = |rss: f64, turn_ms: f64| {
        let gb_s = billed_gb(rss) * turn_ms / 1000.0 * 1000.0;
        (gb_s, gb_s / 3600.0 * PRICES.runtime_gb_hour)
    };
    line(
        "a thousand turns on AgentCore Runtime: memory while they run",
        "GB-s",
        memory(rss_ours, turn_ours),
        memory(rss_peer, turn_peer),
    );
    let session_hour = |rss: f64| {
        let gb_h = billed_gb(rss);
        (gb_h * 3600.0, gb_h * PRICES.runtime_gb_hour)
    };
    line(
        "each hour a session is kept on AgentCore Runtime, idle or not: memory",
        "GB-s",
        session_hour(rss_ours),
        session_hour(rss_peer),
    );
    let _ = write!(
        out,
        "\nPrices: Lambda ${}/GB-s arm64, ${}/GB-s x86_64, ${:.2} per million requests; \
         AgentCore Runtime ${}/vCPU-hour, ${}/GB-hour, memory billed at its peak per second and \
         at least {} MB; as of {}. Durations: a tool call is the warm call over TLS measured \
         above plus one DynamoDB round trip of the profile ({} ms); a front-door question is \
         the whole answer under the latency profile (Lambda bills a streaming function until \
         its stream ends, and the sample's proxy reads the whole stream before it returns); \
         CPU and memory are the agents' measured CPU time per warm turn and peak RSS (at the \
         billed minimum when lower). Not counted: the model's tokens, the Gateway's and \
         Memory's own charges, tenant-authorizer (at most one call per question, its answer \
         cached 60 s per token), and that Lambda gives a 128 MB function a smaller CPU share \
         than this machine gave the peer.\n",
        PRICES.lambda_arm64_gb_s,
        PRICES.lambda_x86_gb_s,
        PRICES.lambda_per_million_requests,
        PRICES.runtime_vcpu_hour,
        PRICES.runtime_gb_hour,
        PRICES.runtime_min_mib,
        PRICES.as_of,
        report.profile.dynamodb,
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_bills_started_milliseconds_of_the_configured_memory() {
        // 1.2 ms at 256 MB: 2 ms billed, a quarter GB: 500 GB-s per million.
        let quarter = Function {
            what: "f".into(),
            mib: 256.0,
            arm64: true,
        };
        let (gb_s, usd) = lambda_million(&quarter, 1.2);
        assert!((gb_s - 500.0).abs() < 1e-9, "{gb_s}");
        assert!((usd - (500.0 * PRICES.lambda_arm64_gb_s + 0.20)).abs() < 1e-12);
        let (gb_s, _) = lambda_million(&sample("tool"), 3.0);
        assert!((gb_s - 375.0).abs() < 1e-9, "{gb_s}");
    }
}
