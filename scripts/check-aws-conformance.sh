#!/usr/bin/env bash
# Checks the CloudFormation template against AWS's own published definitions, offline:
#   - every resource's Properties against its CloudFormation registry schema (the schemas that
#     ship with the pinned cfn-lint), every nested definition and oneOf branch included, and
#     every Fn::GetAtt against the type's read-only attributes; nothing kept on a failed creation
#     (scripts/conformance/cfn_registry.py);
#   - every action, resource and condition key of every policy document against AWS's IAM
#     service authorization reference, and the keys AWS documents as unusable in trust and
#     resource-based policies (scripts/conformance/iam_reference.py);
# after the checkers' own tests, which show each one failing on the defect it guards
# (scripts/conformance/test_checkers.py); and scripts/bedrock-projects.sh against a stand-in
# aws CLI that refuses any Bedrock call botocore's model does not define
# (scripts/conformance/test_bedrock_projects.py). The deployment's create order is checked on the
# deploy dry run (scripts/check-dry-runs.sh). Part of scripts/test.sh.
# Usage: scripts/check-aws-conformance.sh [template]   (default: infra/template.json, then
# infra/edge-template.json)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
python=.tools/venv/bin/python
[[ -x $python ]] || { echo "error: $python not found; run scripts/install-standins.sh first" >&2; exit 1; }
template=${1:-infra/template.json}
echo "==> The checkers against the defects they guard (scripts/conformance/test_checkers.py)"
if ! out=$(cd scripts/conformance && "../../$python" -m unittest test_checkers 2>&1); then
  echo "$out" >&2
  echo "error: a conformance checker no longer finds the defect it guards (above)" >&2
  exit 1
fi
echo "    $(grep -E '^Ran ' <<< "$out"), each failing on its defect and passing on the stack"
echo "==> scripts/bedrock-projects.sh against botocore's Bedrock model (scripts/conformance/test_bedrock_projects.py)"
if ! out=$(cd scripts/conformance && "../../$python" -m unittest test_bedrock_projects 2>&1); then
  echo "$out" >&2
  echo "error: scripts/bedrock-projects.sh does not set the tier file's data retention as AWS's model defines it (above)" >&2
  exit 1
fi
echo "    $(grep -E '^Ran ' <<< "$out"): created with the mode, set when it differs, stopped when it cannot be set"
"$python" scripts/conformance/cfn_registry.py "$template"
"$python" scripts/conformance/iam_reference.py "$template"
if [[ $# -eq 0 ]]; then
  # The edge stack (the CloudFront-scope web ACL, us-east-1) against the same schemas.
  "$python" scripts/conformance/cfn_registry.py infra/edge-template.json
fi
