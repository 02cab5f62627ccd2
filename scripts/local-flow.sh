#!/usr/bin/env bash
# The main job: runs everything that exists end to end on the LOCAL STAND-INS (no AWS account).
# Today: creates a Cognito user pool on the stand-in with one user per demo clinic, signs each
# in, verifies each ID token against the pool's JWKS and prints the tenant context it yields;
# then runs the real token-vending function under cargo-lambda's Lambda emulator and turns
# clinic-a's token into STS credentials tagged for clinic-a.
# Usage: scripts/local-flow.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

scripts/install-standins.sh
echo "==> Building (first build on a fresh machine takes a few minutes)"
cargo build --workspace --locked --quiet

scripts/standins.sh start
trap 'scripts/standins.sh stop' EXIT
# shellcheck disable=SC1091
source .tools/run/env

# cargo-lambda (the Lambda stand-in) comes from the project's own tool folder.
PATH="$PWD/.tools/venv/bin:$PATH" target/debug/local-flow
