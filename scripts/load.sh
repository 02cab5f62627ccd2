#!/usr/bin/env bash
# Load and canaries through the whole local stack: every demo clinic with four users at once
# for a bounded time through the API Gateway emulation (one clinic past its usage plan), then
# every response and every log line searched for each clinic's canary (planted in its patient
# rows and conversation memory). Writes docs/reliability.md; exits non-zero on any leak, any
# 429 outside the noisy clinic, any error.
# Usage: scripts/load.sh [--seconds N] [--noisy CLINIC]   (defaults: 30 s, clinic-b)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
# shellcheck source=scripts/lib/local-standins.sh
source scripts/lib/local-standins.sh
target/debug/tenantry-load --markdown docs/reliability.md "$@"
