#!/usr/bin/env bash
# Measures tool-target and agent-runtime (release builds) side by side with the BENCHMARK PEERS
# of the published Python design (dev/bench/peers; never deployed) on the local stand-ins,
# interleaved in one run, and writes docs/benchmarks.md (table, machine, versions), the table
# into the README, and docs/benchmarks.png (the ratios). Takes about 15 minutes on a fresh 2-core machine (release
# builds), a few minutes after. Installs what it needs into .tools (scripts/install-standins.sh).
# Usage: scripts/bench.sh [--quick] [--criterion]
#   --quick       fewer calls (60 warm, 3 cold): a rough check, not for the docs
#   --criterion   also run the criterion micro-benchmarks (token verification, agent turn)
set -euo pipefail
cd "$(dirname "$0")/.."
warm=300 cold=10 criterion=0 quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) warm=60 cold=3 quick=1 ;;
    --criterion) criterion=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
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
target/harness/tenantry-bench --bin-dir target/release --warm "$warm" --cold "$cold" "${out[@]}"
if [[ $quick == 0 ]]; then
  .tools/bench-venv/bin/python scripts/lib/bench_chart.py target/bench/results.json docs/benchmarks.png
  echo "==> Wrote docs/benchmarks.md and docs/benchmarks.png"
fi

if [[ $criterion == 1 ]]; then
  echo "==> criterion micro-benchmarks (bench profile; several minutes on a fresh machine)"
  cargo bench --locked -p tenant-context --bench verify_token -- --noplot 2>&1 | grep -E "^[a-z_]+/|time:" || true
  cargo bench --locked -p agent-runtime --bench turn -- --noplot 2>&1 | grep -E "^[a-z_ ]+/|time:" || true
fi
