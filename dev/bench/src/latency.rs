//! The latency run: agent-runtime beside two BENCHMARK PEER Strands agents with every
//! dependency answering after the latency profile's delay (`profile.rs`), so what is measured
//! is what a clinician waits for: the first answer byte and the whole answer at the client.
//! The peers: the Strands agent with the published sample's hooks (guardrail on the prompt
//! and on the whole answer, memory read before and written after, a JSON answer), and the
//! minimal Strands agent (the Gateway's tools and the model only, its text streamed).
//!
//! Sequential round trips before the first model request are counted from the dependencies'
//! own timestamps (the counting proxies' busy intervals): the longest chain of requests, each
//! starting after the one before it ended, between the turn's start and the model request.
//! `/ping` is asked every few milliseconds while a turn runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use emulators::agent::AgentProcess;
use emulators::model::ANSWER_LABEL;
use serde_json::Value;

use crate::agent::{World, invocation, settled, start_agent};
use crate::profile::Profile;
use crate::report::{Row, Target};
use crate::side::{Side, Subjects};
use crate::stats::{Samples, ms};

const GROUP: &str = "latency";
/// Turns per runtime session: the first of each opens the session (its MCP session, for ours).
const PER_SESSION: usize = 5;
const PING_EVERY: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Agent {
    Ours,
    /// The Strands agent with the published sample's memory and guardrail hooks.
    Hooks,
    /// The minimal Strands agent: model and Gateway only.
    Minimal,
    /// agent-runtime without the usage table and the audit trail (no turn limit, no token
    /// budget, no audit events): what those three add to a turn under the profile.
    OursBare,
}

impl Agent {
    const ALL: [Agent; 4] = [Agent::Ours, Agent::Hooks, Agent::Minimal, Agent::OursBare];

    fn side(self) -> Side {
        match self {
            Agent::Ours | Agent::OursBare => Side::Ours,
            Agent::Hooks | Agent::Minimal => Side::Peer,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Agent::Ours => "agent-runtime",
            Agent::Hooks => "peer-strands-agent",
            Agent::Minimal => "peer-strands-agent-minimal",
            Agent::OursBare => "agent-runtime-without-usage-and-audit",
        }
    }

    fn extra(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Agent::Minimal => &[("TENANTRY_PEER_MINIMAL", "1")],
            Agent::OursBare => &[
                ("TENANTRY_USAGE_TABLE", ""),
                ("TENANTRY_AUDIT_LOG_GROUP", ""),
            ],
            Agent::Ours | Agent::Hooks => &[],
        }
    }

    fn slot(self) -> usize {
        self as usize
    }

    /// Round `i`'s order: each agent goes first, second, third and last in turn.
    fn order(i: usize) -> [Agent; 4] {
        let mut all = Self::ALL;
        all.rotate_left(i % Self::ALL.len());
        all
    }
}

fn failed(who: Agent, what: impl std::fmt::Display) -> anyhow::Error {
    crate::failed(who.label(), what.to_string())
}

/// One turn as the client saw it.
struct Timed {
    began: Instant,
    first_byte: Duration,
    whole: Duration,
    /// The first piece of answer text that arrived.
    first_text: String,
}

/// Asks for a streamed answer (agent-runtime and the minimal peer stream; the hooks peer
/// answers with JSON whatever is asked) and times its first text and its end.
async fn timed_turn(
    http: &reqwest::Client,
    world: &World,
    agent: &AgentProcess,
    who: Agent,
    session: &str,
) -> anyhow::Result<Timed> {
    let began = Instant::now();
    let mut reply = invocation(http, world, agent, session, "text/event-stream")
        .send()
        .await
        .map_err(|e| failed(who, e))?;
    if !reply.status().is_success() {
        let status = reply.status();
        let body = reply.text().await.unwrap_or_default();
        return Err(failed(who, format!("answered {status}: {body}")));
    }
    let streamed = reply
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let (first_byte, whole, first_text, answer) = if streamed {
        read_events(&mut reply, began)
            .await
            .map_err(|e| failed(who, format!("{e:#}")))?
    } else {
        let body: Value = reply.json().await.map_err(|e| failed(who, e))?;
        let at = began.elapsed();
        let answer = body["answer"].as_str().unwrap_or_default().to_owned();
        (at, at, answer.clone(), answer)
    };
    if !answer.starts_with(ANSWER_LABEL) || !answer.contains("clinic_config") {
        return Err(failed(who, format!("unexpected answer: {answer:?}")));
    }
    Ok(Timed {
        began,
        first_byte,
        whole,
        first_text,
    })
}

/// Reads server-sent `text_delta` events to the `final` one: when the first text came, when
/// the answer ended, the first text, the whole answer.
async fn read_events(
    reply: &mut reqwest::Response,
    began: Instant,
) -> anyhow::Result<(Duration, Duration, String, String)> {
    let mut buffer: Vec<u8> = Vec::new();
    let mut first: Option<(Duration, String)> = None;
    let mut answer = String::new();
    while let Some(chunk) = reply.chunk().await.context("read the stream")? {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buffer.drain(..end + 2).collect();
            let frame = String::from_utf8_lossy(&frame);
            for data in frame.lines().filter_map(|l| l.strip_prefix("data: ")) {
                let event: Value = serde_json::from_str(data)
                    .with_context(|| format!("an event that is not JSON: {data}"))?;
                match event["type"].as_str() {
                    Some("text_delta") => {
                        let text = event["text"].as_str().unwrap_or_default();
                        if first.is_none() && !text.is_empty() {
                            first = Some((began.elapsed(), text.to_owned()));
                        }
                        answer.push_str(text);
                    }
                    Some("final") => {
                        let whole = began.elapsed();
                        let (at, text) = first.ok_or_else(|| anyhow!("no text before the end"))?;
                        return Ok((at, whole, text, answer));
                    }
                    Some("error") => return Err(anyhow!("error event: {event}")),
                    _ => {}
                }
            }
        }
    }
    Err(anyhow!("the stream ended without a final event"))
}

/// The longest chain of `busy` intervals inside `from..to`, each starting after the one
/// before it ended: how many round trips were waited for one after another.
pub fn sequential_round_trips(busy: &[(Instant, Instant)], from: Instant, to: Instant) -> usize {
    let mut inside: Vec<(Instant, Instant)> = busy
        .iter()
        .copied()
        .filter(|&(a, b)| a >= from && b <= to)
        .collect();
    inside.sort();
    let mut chain = vec![0usize; inside.len()];
    for i in 0..inside.len() {
        let before = (0..i)
            .filter(|&j| inside[j].1 <= inside[i].0)
            .map(|j| chain[j])
            .max()
            .unwrap_or(0);
        chain[i] = before + 1;
    }
    chain.into_iter().max().unwrap_or(0)
}

#[derive(Default)]
struct Measured {
    first_byte: Samples,
    whole: Samples,
    /// On every turn of a session after its first, and on its first.
    trips_warm: Vec<usize>,
    trips_first: Vec<usize>,
    pings: Samples,
    /// Ours: the least its first byte could take under the profile (see `floor`).
    floor: Samples,
}

fn median(mut v: Vec<usize>) -> f64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0) as f64
}

/// The least the first answer byte can take under the profile, for a turn with one tool call:
/// the input check (nothing reaches the model unchecked), the model's whole first round (it
/// decides the tool call; measured at its proxy), the tool call through the Gateway and its
/// Lambda, the final round's time to first token and to write the first window, and the
/// output check of that window (nothing reaches the client unchecked).
fn floor(profile: &Profile, first_round: Duration, first_text: &str) -> Duration {
    let tokens = u32::try_from(emulators::model::tokens(first_text)).unwrap_or(u32::MAX);
    Profile::ms(profile.guardrail)
        + first_round
        + Profile::ms(profile.gateway + profile.lambda)
        + Profile::ms(profile.first_token)
        + profile.per_token().saturating_mul(tokens)
        + Profile::ms(profile.guardrail)
}

/// Runs the latency measurements under `profile`; `progress` gets one line per step.
pub async fn run(
    subjects: &Subjects,
    turns: usize,
    profile: Profile,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<Row>> {
    let world = World::start(profile).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("HTTP client")?;
    progress(&format!(
        "latency: {turns} turns each of agent-runtime (as deployed and without the usage \
         table and the audit trail) and two Strands peers, every dependency answering after \
         the profile's delay ({})",
        profile.describe()
    ));
    let mut agents = Vec::new();
    for who in Agent::ALL {
        let variant = matches!(who, Agent::Minimal | Agent::OursBare).then_some(who.label());
        let (agent, _) = start_agent(&world, who.side(), subjects, variant, who.extra()).await?;
        agents.push(agent);
    }
    let mut m: [Measured; 4] = Default::default();
    let mut session = String::new();
    for i in 0..turns {
        let first_of_session = i.is_multiple_of(PER_SESSION);
        if first_of_session {
            session = world.new_session()?;
        }
        for who in Agent::order(i) {
            let agent = &agents[who.slot()];
            let done = Arc::new(AtomicBool::new(false));
            let pinger = tokio::spawn({
                let (http, done, url) = (http.clone(), done.clone(), agent.url().to_string());
                async move {
                    let mut took = Vec::new();
                    tokio::time::sleep(PING_EVERY).await;
                    while !done.load(Ordering::SeqCst) {
                        let began = Instant::now();
                        if http.get(format!("{url}/ping")).send().await.is_ok() {
                            took.push(began.elapsed());
                        }
                        tokio::time::sleep(PING_EVERY).await;
                    }
                    took
                }
            });
            let timed = timed_turn(&http, &world, agent, who, &session).await;
            done.store(true, Ordering::SeqCst);
            let pings = pinger.await.map_err(|e| failed(who, e))?;
            let timed = timed?;
            settled(&http, agent, who.side()).await?;
            let model_requests: Vec<(Instant, Instant)> = world
                .model
                .busy()
                .into_iter()
                .filter(|&(a, _)| a >= timed.began)
                .collect();
            let first_model = model_requests
                .iter()
                .min()
                .copied()
                .ok_or_else(|| failed(who, "no model request during the turn"))?;
            let trips =
                sequential_round_trips(&world.busy_besides_model(), timed.began, first_model.0);
            let a = &mut m[who.slot()];
            for p in pings {
                a.pings.push(p);
            }
            if first_of_session {
                a.trips_first.push(trips);
                continue;
            }
            a.trips_warm.push(trips);
            a.first_byte.push(timed.first_byte);
            a.whole.push(timed.whole);
            if who == Agent::Ours {
                let round = first_model.1 - first_model.0;
                a.floor.push(floor(&profile, round, &timed.first_text));
            }
        }
    }
    drop(agents);
    Ok(rows(&m))
}

fn rows(m: &[Measured; 4]) -> Vec<Row> {
    let [ours, hooks, minimal, bare] = m;
    let row = |metric: &str, unit: &str, peer: Option<f64>, ours: f64| {
        Row::new(GROUP, metric, unit, peer, ours)
    };
    let first = ms(ours.first_byte.p50());
    let floor = ms(ours.floor.p50());
    let bare_first = ms(bare.first_byte.p50());
    vec![
        row(
            "sequential dependency round trips before the first model request, warm turn \
             (vs the peer with the sample's hooks)",
            "round trips",
            Some(median(hooks.trips_warm.clone())),
            median(ours.trips_warm.clone()),
        )
        .target(Target::AtMost(2.0)),
        row(
            "the same, vs the minimal peer",
            "round trips",
            Some(median(minimal.trips_warm.clone())),
            median(ours.trips_warm.clone()),
        ),
        row(
            "the same, a session's first turn (vs the peer with the sample's hooks)",
            "round trips",
            Some(median(hooks.trips_first.clone())),
            median(ours.trips_first.clone()),
        ),
        row(
            "first answer byte p50 (vs the peer with the sample's hooks)",
            "ms",
            Some(ms(hooks.first_byte.p50())),
            first,
        )
        .target(Target::TimesLower(1.5)),
        row(
            "first answer byte p50 (vs the minimal peer, which checks nothing)",
            "ms",
            Some(ms(minimal.first_byte.p50())),
            first,
        ),
        row(
            &format!(
                "first answer byte p50 above its floor ({floor:.0} ms: input check, first \
                 model round, tool call, final round to its first window, output check)"
            ),
            "%",
            None,
            if floor > 0.0 {
                (first / floor - 1.0) * 100.0
            } else {
                0.0
            },
        )
        .target(Target::AtMost(10.0)),
        row(
            &format!(
                "first answer byte p50 added by the token budget, the turn limit and the audit \
                 trail ({first:.1} ms as deployed minus {bare_first:.1} ms without the usage \
                 table and the trail, never below 0)"
            ),
            "ms",
            None,
            (first - bare_first).max(0.0),
        )
        .target(Target::AtMost(1.0)),
        row(
            "whole answer p50 (vs the peer with the sample's hooks)",
            "ms",
            Some(ms(hooks.whole.p50())),
            ms(ours.whole.p50()),
        )
        .key(crate::cost::TURN_MS),
        row(
            "whole answer p50 (vs the minimal peer, which checks nothing)",
            "ms",
            Some(ms(minimal.whole.p50())),
            ms(ours.whole.p50()),
        )
        .target(Target::TimesLower(1.0)),
        row(
            "/ping p50 while a turn runs (vs the peer with the sample's hooks)",
            "ms",
            Some(ms(hooks.pings.p50())),
            ms(ours.pings.p50()),
        ),
        row(
            "/ping p99 while a turn runs",
            "ms",
            Some(ms(hooks.pings.p99())),
            ms(ours.pings.p99()),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_count_the_longest_chain_not_the_calls() {
        let t = Instant::now();
        let at = |a: u64, b: u64| (t + Duration::from_millis(a), t + Duration::from_millis(b));
        // A limit check, then three calls at once, then one more after the longest.
        let busy = [at(0, 5), at(6, 126), at(6, 36), at(7, 37), at(130, 140)];
        assert_eq!(sequential_round_trips(&busy, t, at(0, 200).1), 3);
        // Outside the window: not counted.
        assert_eq!(sequential_round_trips(&busy, t, at(0, 127).1), 2);
        assert_eq!(sequential_round_trips(&[], t, t), 0);
        // A chain of three one after another.
        let chain = [at(0, 25), at(25, 50), at(50, 75)];
        assert_eq!(sequential_round_trips(&chain, t, at(0, 80).1), 3);
    }

    #[test]
    fn the_floor_adds_the_mandatory_waits() {
        let p = Profile::PLANNING;
        // 120 + 440 + 55 + 400 + 2 ms per token of 40 characters (10 tokens) + 120.
        let f = floor(&p, Duration::from_millis(440), &"x".repeat(40));
        assert_eq!(f, Duration::from_millis(120 + 440 + 55 + 400 + 20 + 120));
    }

    #[test]
    fn each_agent_leads_in_turn() {
        assert_eq!(Agent::order(0)[0], Agent::Ours);
        assert_eq!(Agent::order(1)[0], Agent::Hooks);
        assert_eq!(Agent::order(2)[0], Agent::Minimal);
    }
}
