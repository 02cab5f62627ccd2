# shellcheck shell=bash
# `scripts/deploy.sh --preflight`: read-only checks of an account before a first deployment,
# printed as a table (check, result, what to do). Sourced by deploy.sh after its options are
# parsed ($region, $profile, $dry_run, aws_opts). Nothing here creates or changes anything.
# With --dry-run every check is printed with the command it would run, and nothing is called.
# shellcheck disable=SC2154 # dry_run, stack, aws_opts, reserved_concurrency: set by deploy.sh

preflight_rows=()
preflight_failed=0

sep=$'\x1f'

# check NAME REMEDY COMMAND... : passes when COMMAND exits 0. A dry run shows the command
# (`aws_cmd` as `aws`) instead of running it.
check() {
  local name=$1 remedy=$2
  shift 2
  if [[ $dry_run == 1 ]]; then
    local shown="$*"
    preflight_rows+=("$name${sep}would run: ${shown/#aws_cmd/aws}${sep}")
    return 0
  fi
  local out
  if out=$("$@" 2>&1); then
    preflight_rows+=("$name${sep}pass${sep}")
  else
    preflight_failed=$((preflight_failed + 1))
    preflight_rows+=("$name${sep}FAIL: $(tail -n 1 <<< "$out" | cut -c1-120)${sep}$remedy")
  fi
}

# cli_v2 : the AWS CLI is version 2.
cli_v2() { aws --version 2>&1 | grep -q '^aws-cli/2\.'; }

# stack_usable NAME : the stack does not exist, or is in a state a deployment can continue from.
stack_usable() {
  local status
  status=$(aws_cmd cloudformation describe-stacks --stack-name "$1" --query 'Stacks[0].StackStatus' --output text 2> /dev/null) || return 0
  [[ ! $status =~ FAILED|IN_PROGRESS ]] || { echo "$status"; return 1; }
}

# model_available TIER MODEL_ID : the model is offered in the Region and the account may use it.
model_available() {
  local out
  out=$(aws_cmd bedrock get-foundation-model-availability --model-id "$2" --output json) || return 1
  python3 - "$out" << 'PY'
import json, sys
a = json.loads(sys.argv[1])
bad = {k: v for k, v in (("regionAvailability", a.get("regionAvailability")),
                         ("authorizationStatus", a.get("authorizationStatus")),
                         ("entitlementAvailability", a.get("entitlementAvailability")))
       if v not in ("AVAILABLE", "AUTHORIZED")}
if bad:
    sys.exit(", ".join(f"{k}={v}" for k, v in bad.items()))
PY
}

# reachable URL : an HTTPS endpoint answers (any HTTP status; 401/403 without a key is expected).
reachable() {
  python3 - "$1" << 'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError:
    pass
except Exception as e:
    sys.exit(f"no answer: {e}")
PY
}

# quota_at_least SERVICE_CODE QUOTA_NAME MINIMUM : an applied (or default) quota is high enough.
quota_at_least() {
  local value
  value=$(aws_cmd service-quotas list-service-quotas --service-code "$1" \
    --query "Quotas[?QuotaName=='$2'].Value | [0]" --output text 2> /dev/null)
  if [[ -z $value || $value == None ]]; then
    value=$(aws_cmd service-quotas list-aws-default-service-quotas --service-code "$1" \
      --query "Quotas[?QuotaName=='$2'].Value | [0]" --output text) || return 1
  fi
  [[ $value != None ]] || { echo "no quota named '$2' for $1"; return 1; }
  python3 -c 'import sys; v, m = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if v >= m else f"{v:g} < {m:g}")' "$value" "$3"
}

preflight_checks() {
  if [[ $dry_run == 0 ]]; then
    preflight_aws
  else
    [[ -n $region ]] || region="<region>"
    step "PREFLIGHT DRY RUN: the read-only checks a preflight makes in $region (nothing is called)"
  fi
  check "AWS CLI v2" "install AWS CLI v2 (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)" cli_v2
  check "credentials" "configure credentials (aws configure, or --profile)" aws_cmd sts get-caller-identity
  check "AgentCore Runtime in $region" "choose a Region that offers Amazon Bedrock AgentCore (--region)" \
    aws_cmd bedrock-agentcore-control list-agent-runtimes --max-results 1
  check "AgentCore Gateway in $region" "choose a Region that offers AgentCore Gateway" \
    aws_cmd bedrock-agentcore-control list-gateways --max-results 1
  check "AgentCore Memory in $region" "choose a Region that offers AgentCore Memory" \
    aws_cmd bedrock-agentcore-control list-memories --max-results 1
  check "AgentCore Policy in $region" "choose a Region that offers AgentCore Policy (Cedar policy engines)" \
    aws_cmd bedrock-agentcore-control list-policy-engines --max-results 1
  check "S3 Vectors in $region" "choose a Region that offers Amazon S3 Vectors (the knowledge bases' store)" \
    aws_cmd s3vectors list-vector-buckets --max-results 1
  check "Bedrock projects API" "update AWS CLI v2 to a release with 'aws bedrock list-projects' (the runtimes may infer only in their tier's project)" \
    aws_cmd bedrock list-projects --max-results 1
  check "Mantle endpoint https://bedrock-mantle.$region.api.aws" "choose a Region where Bedrock's OpenAI-compatible (Mantle) endpoint is offered" \
    reachable "https://bedrock-mantle.$region.api.aws/v1/models"
  local tier model embedding
  while IFS=$'\t' read -r tier model embedding; do
    check "model of tier $tier: $model" "request access to $model in the Bedrock console (Model access), or change tiers.$tier.model_id" \
      model_available "$tier" "$model"
    check "embeddings of tier $tier: $embedding" "request access to $embedding, or change tiers.$tier.knowledge_base.embedding_model_id" \
      model_available "$tier" "$embedding"
  done < <(python3 -c 'import json
for name, t in json.load(open("infra/tiers.json"))["tiers"].items():
    print(name, t["model_id"], t["knowledge_base"]["embedding_model_id"], sep="\t")')
  # Six functions, and what --reserved-concurrency would reserve for three of them, must leave
  # Lambda's required unreserved 100.
  check "Lambda concurrent executions >= $((100 + 3 * reserved_concurrency + 10))" \
    "request a higher 'Concurrent executions' quota (Service Quotas, AWS Lambda), or lower --reserved-concurrency" \
    quota_at_least lambda "Concurrent executions" $((100 + 3 * reserved_concurrency + 10))
  check "API Gateway usage plans" "request more 'Usage plans per account' (Service Quotas, Amazon API Gateway)" \
    quota_at_least apigateway "Usage plans per account" 2
  check "stack $stack absent or usable" "wait for a stack in progress; remove a failed one first (scripts/cleanup.sh)" \
    stack_usable "$stack"

  printf '%-58s %-62s %s\n' "CHECK" "RESULT" "WHAT TO DO"
  local row name result remedy
  for row in "${preflight_rows[@]}"; do
    IFS=$sep read -r name result remedy <<< "$row"
    printf '%-58s %-62s %s\n' "$name" "$result" "$remedy"
  done
  if [[ $dry_run == 1 ]]; then
    step "Preflight dry run complete: ${#preflight_rows[@]} checks, nothing was called"
    return 0
  fi
  if ((preflight_failed > 0)); then
    step "Preflight: $preflight_failed of ${#preflight_rows[@]} checks FAILED (see WHAT TO DO); nothing was changed"
    return 1
  fi
  step "Preflight: all ${#preflight_rows[@]} checks passed; nothing was changed"
}
