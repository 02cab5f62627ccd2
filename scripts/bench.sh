#!/usr/bin/env bash
# Measures tool-target and agent-runtime (release builds) side by side with the BENCHMARK PEERS
# of the published Python design (dev/bench/peers; never deployed) on the local stand-ins,
# interleaved in one run, then the agents again under a latency profile (each dependency
# answering after an AWS-like delay), and writes docs/benchmarks.md (table, cost per turn,
# machine, versions), the table into the README, and docs/benchmarks.png (the ratios). Takes
# about 20 minutes on a fresh 2-core machine (release builds), under 10 after. Installs what it
# needs into .tools (scripts/install-standins.sh).
# Usage: scripts/bench.sh [--quick] [--criterion] [--profile dependency=ms,...]
#   --quick       fewer calls (60 warm, 3 cold, 10 latency turns): a rough check, not for the docs
#   --criterion   also run the criterion micro-benchmarks (token verification, agent turn)
#   --profile     change the latency profile: gateway=25,memory=30,guardrail=120,lambda=30,
#                 dynamodb=5,first-token=400,per-10-tokens=20 (ms; the defaults shown)
set -euo pipefail
cd "$(dirname "$0")/.."
warm=300 cold=10 latency=40 criterion=0 quick=0 profile=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) warm=60 cold=3 latency=10 quick=1 ;;
    --criterion) criterion=1 ;;
    --profile)
      [[ $# -ge 2 ]] || { echo "--profile needs a value, e.g. --profile guardrail=200" >&2; exit 2; }
      profile=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-standins.sh
echo "==> Release builds of tool-target and agent-runtime (as shipped), and the harness"
cargo build --locked --release -p tool-target -p agent-runtime
cargo build --locked --profile harness -p bench

started=0
if scripts/standins.sh status | grep -q stopped; then started=1; fi
scripts/standins.sh start
if [[ $started == 1 ]]; then trap 'scripts/standins.sh stop' EXIT; fi
# shellcheck disable=SC1091
source .tools/run/env

mkdir -p target/bench
out=(--json target/bench/results.json)
[[ $quick == 0 ]] && out+=(--markdown docs/benchmarks.md --readme README.md)
target/harness/tenantry-bench --bin-dir target/release --warm "$warm" --cold "$cold" \
  --latency-turns "$latency" --profile "$profile" "${out[@]}"
if [[ $quick == 0 ]]; then
  .tools/bench-venv/bin/python scripts/lib/bench_chart.py target/bench/results.json docs/benchmarks.png
  echo "==> Wrote docs/benchmarks.md and docs/benchmarks.png"
fi

if [[ $criterion == 1 ]]; then
  echo "==> criterion micro-benchmarks (bench profile; several minutes on a fresh machine)"
  cargo bench --locked -p tenant-context --bench verify_token -- --noplot 2>&1 | grep -E "^[a-z_]+/|time:" || true
  cargo bench --locked -p agent-runtime --bench turn -- --noplot 2>&1 | grep -E "^[a-z_ ]+/|time:" || true
fi
