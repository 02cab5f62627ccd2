#!/usr/bin/env bash
# The main job: runs everything that exists end to end on the LOCAL STAND-INS (no AWS account).
# Signs in one user per demo clinic (Cognito stand-in), vends credentials, calls every tool of
# the real tool-target, onboards the tenants, plays API Gateway's hops through the real
# authorizer and proxy, and asks each tier's real agent questions (through the Runtime and
# Gateway emulations, with the model stand-in), refusing every cross-tenant attempt.
# Usage: scripts/local-flow.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

scripts/install-standins.sh
echo "==> Building (first build on a fresh machine takes a few minutes)"
cargo build --workspace --locked --quiet

scripts/standins.sh start
trap 'scripts/standins.sh stop' EXIT
# shellcheck disable=SC1091
source .tools/run/env

# cargo-lambda (the Lambda stand-in) comes from the project's own tool folder.
PATH="$PWD/.tools/venv/bin:$PATH" target/debug/local-flow
