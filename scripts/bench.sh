#!/usr/bin/env bash
# Runs the criterion benchmarks and prints each median with its ratio to its baseline, from
# criterion's own estimates (target/criterion): token verification beside a bare decode, and
# an agent turn beside the same upstream calls without the agent (stand-ins answering at once),
# plus the agent's start to a healthy /ping. No stand-in servers needed (all in-process).
# Usage: scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
echo "==> cargo bench (release build first; takes several minutes on a fresh machine)"
cargo bench --locked -p tenant-context --bench verify_token -- --noplot 2>&1 | grep -E "^[a-z_]+/|time:" || true
cargo bench --locked -p agent-runtime --bench turn -- --noplot 2>&1 | grep -E "^[a-z_ ]+/|time:" || true
python3 - <<'PY'
import json, pathlib

def medians(group):
    out = {}
    for est in sorted(pathlib.Path("target/criterion", group).glob("*/new/estimates.json")):
        name = json.loads((est.parent / "benchmark.json").read_text())["function_id"]
        out[name] = json.loads(est.read_text())["median"]["point_estimate"] / 1000
    return out

verify = medians("verify_id_token")
for name, us in verify.items():
    print(f"{name:<60} median {us:10.2f} us")
ours = next(v for k, v in verify.items() if k.startswith("tenant_context"))
base = next(v for k, v in verify.items() if k.startswith("baseline"))
print(f"{'ratio verify / bare decode':<60} {ours / base:10.2f}")

turn = medians("turn")
start = medians("start")
for name, us in list(turn.items()) + list(start.items()):
    print(f"{name:<60} median {us:10.1f} us")
if "agent" in turn and "upstream only" in turn:
    print(f"{'agent overhead per turn (agent - upstream only)':<60} {turn['agent'] - turn['upstream only']:10.1f} us")
    print(f"{'ratio agent / upstream only':<60} {turn['agent'] / turn['upstream only']:10.2f}")
PY
