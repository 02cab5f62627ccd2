#!/usr/bin/env bash
# The main job: the tour of the whole system on the LOCAL STAND-INS and EMULATIONS (no AWS
# account). Brings up the devstack (scripts/devstack.sh), then shows as a client: identity from
# the token, scoped credentials, the tools, the front door (API Gateway emulation with the real
# authorizer and proxy), answers from each clinic's own data, memory, usage limits and the cost
# per clinic; exits non-zero if any cross-tenant, cross-tier or over-limit attempt gets through.
# Usage: scripts/local-flow.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

# shellcheck source=scripts/lib/local-standins.sh
source scripts/lib/local-standins.sh

target/debug/local-flow
