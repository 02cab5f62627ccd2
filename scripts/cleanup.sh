#!/usr/bin/env bash
# Removes a Tenantry deployment: offboards the tenants (their API keys live outside the stack),
# deletes the CloudFormation stack, the per-tier Bedrock projects, the signing keys (page tokens, sessions), the
# artifact bucket and the agent image repository. Patient data, documents, the user pool, the data key and the logs are KEPT
# (the stack retains them) unless --purge-data is given. Safe to re-run.
#
# Usage: scripts/cleanup.sh [options]
#   --tenants FILE       tenants to offboard (default: infra/demo-tenants.json)
#   --purge-data         ALSO delete the kept resources: tables, document and access-log buckets
#                        (every object version), the user pool, the logs, and schedule the data
#                        key for deletion (30 days). Irreversible; asks you to type the stack name
#   --yes                with --purge-data: do not ask (for automation)
#   --stack-name NAME    CloudFormation stack (default: tenantry)
#   --name-prefix P      prefix the stack was deployed with (default: tenantry)
#   --region R, --profile P   AWS Region and CLI profile
#   --dry-run            print everything that would be removed and exit; needs no AWS
#   -h, --help           this text
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
# shellcheck source=scripts/lib/deploy-common.sh
source scripts/lib/deploy-common.sh

tenants_file=infra/demo-tenants.json purge=0 yes=0
extra_option() {
  case $1 in
    --tenants) [[ $# -ge 2 ]] || die "--tenants needs a value"; tenants_file=$2; return 2 ;;
    --purge-data) purge=1; return 1 ;;
    --yes) yes=1; return 1 ;;
    *) return 0 ;;
  esac
}
parse_common "$@"
[[ -f $tenants_file ]] || die "tenant file $tenants_file not found"
mkdir -p "$state_dir"
outputs_file="$state_dir/$stack-outputs.json"
retained_file="$state_dir/$stack-retained.json"

if [[ $dry_run == 1 ]]; then
  step "DRY RUN: nothing is removed; this is the plan for stack $stack (prefix $prefix)"
  [[ -n $region ]] || region="<region>"
else
  preflight_aws
  if [[ $purge == 1 && $yes == 0 ]]; then
    echo "--purge-data deletes every patient record, document, user and log of stack $stack in $account/$region."
    read -r -p "Type the stack name to confirm: " answer
    [[ $answer == "$stack" ]] || die "not confirmed; nothing was removed"
  fi
fi
artifacts="$prefix-artifacts-$account-$region"
stack_exists() { aws_cmd cloudformation describe-stacks --stack-name "$stack" > /dev/null 2>&1; }

# Empties a versioned bucket (every version and delete marker); `delete_bucket` then deletes it.
empty_bucket() {
  local bucket=$1 batch
  batch=$(mktemp)
  for kind in Versions DeleteMarkers; do
    while true; do
      aws_cmd s3api list-object-versions --bucket "$bucket" --max-items 1000 \
        --query "{Objects: ${kind}[].{Key: Key, VersionId: VersionId}, Quiet: \`true\`}" --output json > "$batch"
      python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("Objects") else 1)' "$batch" || break
      aws_cmd s3api delete-objects --bucket "$bucket" --delete "file://$batch" > /dev/null
    done
  done
  rm -f "$batch"
}

delete_bucket() {
  local bucket=$1
  if [[ $dry_run == 1 ]]; then
    echo "    would delete every object version of s3://$bucket, then the bucket"
    return
  fi
  if ! aws_cmd s3api head-bucket --bucket "$bucket" 2> /dev/null; then
    echo "    s3://$bucket already gone"
    return
  fi
  empty_bucket "$bucket"
  aws_cmd s3api delete-bucket --bucket "$bucket"
  echo "    s3://$bucket deleted"
}

step "1/5 Offboard the tenants of $tenants_file (registry rows, API keys, clinic rows, users; patient data kept)"
if [[ $dry_run == 1 ]]; then
  cargo run --quiet --locked -p tenant-admin -- offboard --tenants "$tenants_file" --dry-run --name-prefix "$prefix" | sed 's/^/    /'
elif stack_exists; then
  aws_cmd cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output json > "$outputs_file"
  cargo run --quiet --locked -p tenant-admin -- offboard --tenants "$tenants_file" --outputs "$outputs_file" | sed 's/^/    /'
else
  echo "    stack $stack not found: nothing to offboard"
fi

step "2/5 Delete stack $stack (the kept resources stay: see step 5)"
if [[ $dry_run == 1 ]]; then
  echo "    would record the kept resources' ids in $retained_file, empty the web chat's bucket, then:"
  run aws cloudformation delete-stack --stack-name "$stack"
  run aws cloudformation wait stack-delete-complete --stack-name "$stack"
elif stack_exists; then
  # The alias and outputs go with the stack: remember what purging needs first.
  key_id=$(aws_cmd cloudformation describe-stack-resource --stack-name "$stack" --logical-resource-id DataKey \
    --query StackResourceDetail.PhysicalResourceId --output text 2> /dev/null || echo "")
  pool_id=$(aws_cmd cloudformation describe-stack-resource --stack-name "$stack" --logical-resource-id UserPool \
    --query StackResourceDetail.PhysicalResourceId --output text 2> /dev/null || echo "")
  printf '{"data_key_id": "%s", "user_pool_id": "%s"}\n' "$key_id" "$pool_id" > "$retained_file"
  # The web chat's page bucket goes with the stack; CloudFormation deletes only empty buckets.
  site=$(aws_cmd cloudformation describe-stack-resource --stack-name "$stack" --logical-resource-id SiteBucket \
    --query StackResourceDetail.PhysicalResourceId --output text 2> /dev/null || echo "")
  [[ -n $site ]] && empty_bucket "$site" && echo "    emptied the web chat's bucket s3://$site"
  aws_cmd cloudformation delete-stack --stack-name "$stack"
  echo "    deleting (this takes several minutes)..."
  aws_cmd cloudformation wait stack-delete-complete --stack-name "$stack"
  echo "    deleted"
else
  echo "    already gone"
fi
# The edge stack (its web ACL, in us-east-1) goes after the distribution that used it.
edge_opts=()
[[ -n $profile ]] && edge_opts+=(--profile "$profile")
edge_opts+=(--region us-east-1)
if [[ $dry_run == 1 ]]; then
  run aws "${edge_opts[@]}" cloudformation delete-stack --stack-name "$stack-edge"
  run aws "${edge_opts[@]}" cloudformation wait stack-delete-complete --stack-name "$stack-edge"
elif aws "${edge_opts[@]}" cloudformation describe-stacks --stack-name "$stack-edge" > /dev/null 2>&1; then
  aws "${edge_opts[@]}" cloudformation delete-stack --stack-name "$stack-edge"
  aws "${edge_opts[@]}" cloudformation wait stack-delete-complete --stack-name "$stack-edge"
  echo "    edge stack $stack-edge deleted (us-east-1)"
else
  echo "    edge stack $stack-edge already gone"
fi

step "3/5 Bedrock projects and the signing keys"
bp_args=(--delete)
[[ $dry_run == 1 ]] && bp_args+=(--dry-run)
[[ $dry_run == 0 ]] && bp_args+=(--region "$region")
[[ -n $profile ]] && bp_args+=(--profile "$profile")
scripts/bedrock-projects.sh "${bp_args[@]}" | sed 's/^/    /'
for key_param in "/$prefix/page-token-key" "/$prefix/session-key" "/$prefix/origin-verify"; do
  if [[ $dry_run == 1 ]]; then
    run aws ssm delete-parameter --name "$key_param"
  elif aws_cmd ssm delete-parameter --name "$key_param" 2> /dev/null; then
    echo "    $key_param deleted"
  else
    echo "    $key_param already gone"
  fi
done


step "4/5 Artifact bucket (function packages and templates) and the agent image repository"
delete_bucket "$artifacts"
repo="$prefix-agent-runtime"
if [[ $dry_run == 1 ]]; then
  echo "    would delete the ECR repository $repo and its images"
elif aws_cmd ecr delete-repository --repository-name "$repo" --force > /dev/null 2>&1; then
  echo "    ECR repository $repo deleted"
else
  echo "    ECR repository $repo already gone"
fi

step "5/5 Kept resources: patient data, documents, users, data key, logs"
# What the stack keeps on deletion, by name, from the template itself (names have no spaces; a
# command substitution, so a failure to read the template stops the script).
kept_tables=$(template kept AWS::DynamoDB::Table)
kept_buckets=$(template kept AWS::S3::Bucket)
kept_log_groups=$(template kept AWS::Logs::LogGroup)
# The runtimes' log groups, which AgentCore creates itself (`<runtime name>-<id>-<endpoint>`).
runtime_log_prefixes=$(for tier in $(tiers); do echo "/aws/bedrock-agentcore/runtimes/${prefix}_${tier}-"; done)
if [[ $purge == 0 ]]; then
  echo "    kept (run again with --purge-data to delete them):"
  echo "      tables $(tr '\n' ' ' <<< "$kept_tables")"
  echo "      buckets $(tr '\n' ' ' <<< "$kept_buckets")"
  echo "      log groups $(tr '\n' ' ' <<< "$kept_log_groups")"
  for log_prefix in $runtime_log_prefixes; do echo "      the runtime log groups $log_prefix*"; done
  echo "      user pool $prefix-users, data key (alias was alias/$prefix-data)"
  echo "    always kept: the API Gateway CloudWatch role the account's API Gateway setting points to"
  [[ $dry_run == 1 ]] && step "Dry run complete: nothing was removed"
  exit 0
fi
for name in $kept_tables; do
  if [[ $dry_run == 1 ]]; then
    run aws dynamodb update-table --table-name "$name" --no-deletion-protection-enabled
    run aws dynamodb delete-table --table-name "$name"
  elif aws_cmd dynamodb describe-table --table-name "$name" > /dev/null 2>&1; then
    aws_cmd dynamodb update-table --table-name "$name" --no-deletion-protection-enabled > /dev/null
    aws_cmd dynamodb wait table-exists --table-name "$name"
    aws_cmd dynamodb delete-table --table-name "$name" > /dev/null
    echo "    table $name deleted"
  else
    echo "    table $name already gone"
  fi
done
for bucket in $kept_buckets; do delete_bucket "$bucket"; done
key_id="" pool_id=""
if [[ -f $retained_file ]]; then
  key_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data_key_id"])' "$retained_file")
  pool_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["user_pool_id"])' "$retained_file")
fi
if [[ $dry_run == 1 ]]; then
  run aws cognito-idp update-user-pool --user-pool-id "<pool id from $retained_file>" --deletion-protection INACTIVE
  run aws cognito-idp delete-user-pool --user-pool-id "<pool id>"
  run aws kms schedule-key-deletion --key-id "<key id from $retained_file>" --pending-window-in-days 30
elif [[ -n $pool_id ]] && aws_cmd cognito-idp describe-user-pool --user-pool-id "$pool_id" > /dev/null 2>&1; then
  # update-user-pool resets what it is not given; harmless here, the pool is deleted next.
  aws_cmd cognito-idp update-user-pool --user-pool-id "$pool_id" --deletion-protection INACTIVE
  aws_cmd cognito-idp delete-user-pool --user-pool-id "$pool_id"
  echo "    user pool $pool_id deleted"
else
  echo "    user pool already gone (or unknown: see $retained_file)"
fi
if [[ $dry_run == 0 && -n $key_id ]]; then
  state=$(aws_cmd kms describe-key --key-id "$key_id" --query KeyMetadata.KeyState --output text 2> /dev/null || echo gone)
  if [[ $state == Enabled || $state == Disabled ]]; then
    aws_cmd kms schedule-key-deletion --key-id "$key_id" --pending-window-in-days 30 > /dev/null
    echo "    data key $key_id scheduled for deletion in 30 days (cancel with aws kms cancel-key-deletion)"
  else
    echo "    data key: $state"
  fi
fi
for group in $kept_log_groups; do
  if [[ $dry_run == 1 ]]; then
    run aws logs delete-log-group --log-group-name "$group"
  elif aws_cmd logs delete-log-group --log-group-name "$group" 2> /dev/null; then
    echo "    log group $group deleted"
  else
    echo "    log group $group already gone"
  fi
done
for log_prefix in $runtime_log_prefixes; do
  if [[ $dry_run == 1 ]]; then
    run aws logs describe-log-groups --log-group-name-prefix "$log_prefix"
    echo "    and delete each of them (the runtimes' own log groups)"
    continue
  fi
  groups=$(aws_cmd logs describe-log-groups --log-group-name-prefix "$log_prefix" --query 'logGroups[].logGroupName' --output text) ||
    die "listing the log groups under $log_prefix failed: run this again"
  for group in $groups; do
    aws_cmd logs delete-log-group --log-group-name "$group"
    echo "    log group $group deleted"
  done
done
if [[ $dry_run == 1 ]]; then step "Dry run complete: nothing was removed"; else step "Purged"; fi
