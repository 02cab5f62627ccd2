#!/usr/bin/env bash
# Verifies a deployed stack, after scripts/deploy.sh: onboards three probe clinics of its own,
# checks what only a live deployment can settle (the open checks of docs/deploying.md) and the
# isolation that only IAM enforces (another clinic's rows, documents and memory refused to a
# clinic's vended credentials; another tier's Gateway and Runtime; another user's session; a
# suspended clinic), prints a table (CHECK, RESULT, WHAT TO DO) and removes what it created.
#
# Usage: scripts/verify-deployment.sh [options]
#   --stack-name NAME    CloudFormation stack (default: tenantry)
#   --region R, --profile P   AWS Region and CLI profile
#   --keep               leave the probe clinics in place (to inspect them)
#   --dry-run            print every check and the calls it makes, and exit; needs no AWS
#   -h, --help           this text
# Needs: the project's tools (scripts/install-standins.sh: boto3 and AWS's Bedrock token
# generator in .tools/venv), credentials allowed to run tenant-admin, invoke the vending functions
# and read the stack. Makes one model call of one token. Exit status 1 if a check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --stack-name | --region | --profile)
      [[ $# -ge 2 && -n $2 ]] || { echo "error: $1 needs a value (see --help)" >&2; exit 2; }
      args+=("$1" "$2"); shift 2 ;;
    --keep | --dry-run) args+=("$1"); shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "error: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
python=.tools/venv/bin/python
[[ -x $python ]] || { echo "error: $python not found; run scripts/install-standins.sh first" >&2; exit 1; }
exec "$python" scripts/lib/verify_deployment.py "${args[@]}"
