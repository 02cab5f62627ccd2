#!/usr/bin/env bash
# Runs the criterion benchmarks and prints each median and the ratio to its baseline, from
# criterion's own estimates (target/criterion). No stand-ins needed.
# Usage: scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
echo "==> cargo bench (release build first; takes a few minutes on a fresh machine)"
cargo bench --locked -p tenant-context --bench verify_token -- --noplot 2>&1 | grep -E "^[a-z_]+/|time:" || true
python3 - <<'PY'
import json, pathlib
group = pathlib.Path("target/criterion/verify_id_token")
medians = {}
for est in sorted(group.glob("*/new/estimates.json")):
    name = json.loads((est.parent / "benchmark.json").read_text())["function_id"]
    medians[name] = json.loads(est.read_text())["median"]["point_estimate"] / 1000
for name, us in medians.items():
    print(f"{name:<60} median {us:8.2f} us")
ours = next(v for k, v in medians.items() if k.startswith("tenant_context"))
base = next(v for k, v in medians.items() if k.startswith("baseline"))
print(f"{'ratio verify / bare decode':<60} {ours / base:8.2f}")
PY
