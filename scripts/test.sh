#!/usr/bin/env bash
# The test command: installs the pinned tools if needed, checks formatting and lints (Rust, and
# the CloudFormation template with cfn-lint and checkov), checks the template and its IAM
# documents against AWS's own published definitions (registry schemas, the IAM service
# authorization reference), starts the local stand-ins, runs the whole test suite against them,
# runs the benchmark harness and the fuzz targets once in smoke mode, drives the web chat in a
# headless browser, checks the deployment scripts' dry runs (and the deployment's create order),
# and stops the stand-ins.
# Usage: scripts/test.sh [extra arguments for the test runner, e.g. a test name filter]
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

scripts/install-standins.sh

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> Layering: the product (crates/) never links ops/ or dev/"
python3 scripts/check-layers.py --self-test
python3 scripts/check-layers.py

echo "==> cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> shellcheck (scripts)"
.tools/venv/bin/shellcheck -x scripts/*.sh scripts/lib/*.sh .ci/run

echo "==> Infrastructure template: up to date with its sources, cfn-lint, checkov"
cargo run --quiet --locked -p infra-template -- --check
scripts/lint-infra.sh

echo "==> Against AWS's own definitions: registry schemas, IAM service authorization data, create order"
scripts/check-aws-conformance.sh

scripts/standins.sh start
trap 'scripts/standins.sh stop' EXIT
# shellcheck disable=SC1091
source .tools/run/env

echo "==> Tests (against the local stand-ins)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi

echo "==> Benchmark harness, smoke run: one call of each kind beside the Python peers (no timings judged)"
cargo run --quiet --locked -p bench -- --smoke

echo "==> Fuzz targets, smoke run (the seeds and a few thousand generated inputs each)"
scripts/fuzz.sh --smoke

echo "==> Web chat in a browser (the distribution's headless Chromium; screenshots in .tools/web-test)"
scripts/web-test.sh

echo "==> Deployment scripts, offline (deploy, its preflight, cleanup and verify-deployment with --dry-run)"
scripts/check-dry-runs.sh
