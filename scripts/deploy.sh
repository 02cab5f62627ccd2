#!/usr/bin/env bash
# Deploys Tenantry to an AWS account: builds the functions with cargo lambda (arm64) and the
# agent's arm64 container image (pushed to the ECR repository <prefix>-agent-runtime), uploads
# the functions, creates the signing keys and the per-tier Bedrock projects (both read by the
# components at start-up, so before the stack), deploys infra/template.json as one
# CloudFormation stack (runtimes by digest), uploads the web chat, onboards the tenants of a
# tenant file (API key in the tier's usage plan, registry and clinic rows, first user), and
# prints the endpoints. Safe to re-run, also after a failed first creation.
#
# Usage: scripts/deploy.sh [options]
#   --runtime-image URI  deploy this agent image instead of building one; by digest only:
#                        <account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<hex>
#   --tenants FILE       tenants to onboard (default: infra/demo-tenants.json, SYNTHETIC demo clinics)
#   --no-tenants         deploy only; onboard nobody
#   --test-stack         deploy a TEST stack (StackPurpose=test; synthetic data only): MFA
#                        optional and password sign-in by API allowed (what --test-users and
#                        scripts/verify-deployment.sh need). Only for a new stack or one
#                        that is a test stack already: a production stack is never relaxed
#   --test-users         give the tenants' users generated passwords (no invitation e-mail) and
#                        write them to .tools/deploy/<stack>-test-users.json; needs --test-stack
#   --reserved-concurrency N  reserve (and cap) N concurrent executions for each function the
#                        agents reach without the front door (both token vending functions, the
#                        tool target); default 0: none reserved (new accounts' limits are low)
#   --skip-bedrock-projects  do not run scripts/bedrock-projects.sh: only when the projects and
#                        their parameters exist already (the runtimes may infer only in their
#                        tier's project: without it every model call is refused)
#   --accept-policy-findings create the Cedar policies even when AgentCore's policy analyzer
#                        reports findings (PolicyValidationMode=IGNORE_ALL_FINDINGS); only after
#                        reading the findings (docs/deploying.md)
#   --stack-name NAME    CloudFormation stack (default: tenantry)
#   --name-prefix P      prefix of resource names, 3-16 of [a-z0-9] (default: tenantry)
#   --region R, --profile P   AWS Region and CLI profile
#   --preflight          check the account first, read-only, and stop: credentials, the Region's
#                        services (AgentCore Runtime, Gateway, Memory, Policy; Bedrock's Mantle
#                        endpoint; S3 Vectors), each tier's model, the quotas the stack needs
#                        (with --dry-run: print the checks, call nothing)
#   --dry-run            print the full plan (every resource and tenant) and exit; needs no AWS
#   -h, --help           this text
#
# Needs for a real run: AWS CLI v2, credentials allowed to create the stack (CAPABILITY_NAMED_IAM),
# the Rust targets aarch64-unknown-linux-gnu (functions) and aarch64-unknown-linux-musl (the
# agent's static binary): rustup target add aarch64-unknown-linux-gnu aarch64-unknown-linux-musl;
# skopeo (Debian/Ubuntu: apt-get install skopeo) to push the image without a container daemon;
# and the project's tools (scripts/install-standins.sh: cargo-lambda and zig).
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,44p' "$0" | sed 's/^# \{0,1\}//'; }
# shellcheck source=scripts/lib/deploy-common.sh
source scripts/lib/deploy-common.sh

runtime_image="" tenants_file=infra/demo-tenants.json onboard=1 test_users=0 test_stack=0 bedrock_projects=1 reserved_concurrency=0 preflight=0
policy_validation=FAIL_ON_ANY_FINDINGS
extra_option() {
  case $1 in
    --preflight) preflight=1; return 1 ;;
    --runtime-image) [[ $# -ge 2 ]] || die "--runtime-image needs a value"; runtime_image=$2; return 2 ;;
    --tenants) [[ $# -ge 2 ]] || die "--tenants needs a value"; tenants_file=$2; return 2 ;;
    --no-tenants) onboard=0; return 1 ;;
    --test-users) test_users=1; return 1 ;;
    --test-stack) test_stack=1; return 1 ;;
    --reserved-concurrency) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || die "--reserved-concurrency needs a whole number"; reserved_concurrency=$2; return 2 ;;
    --skip-bedrock-projects) bedrock_projects=0; return 1 ;;
    --accept-policy-findings) policy_validation=IGNORE_ALL_FINDINGS; return 1 ;;
    *) return 0 ;;
  esac
}
parse_common "$@"
[[ $onboard == 0 || -f $tenants_file ]] || die "tenant file $tenants_file not found"
if [[ -n $runtime_image && ! $runtime_image =~ ^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$ ]]; then
  die "--runtime-image must name an ECR image by digest (<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex>): a tag can be moved, a digest cannot"
fi
# Users read patient data: MFA is required and no password sign-in by API, except on a stack
# deployed as a test stack, whose users get generated passwords (they could not set up TOTP).
[[ $test_users == 0 || $test_stack == 1 ]] ||
  die "--test-users needs --test-stack: generated passwords relax MFA for the whole user pool, which only a test stack (synthetic data) may do"
stack_purpose=production
[[ $test_stack == 1 ]] && stack_purpose="test"
mkdir -p "$state_dir"
outputs_file="$state_dir/$stack-outputs.json"
page_key_param="/$prefix/page-token-key"
session_key_param="/$prefix/session-key"
origin_param="/$prefix/origin-verify"
edge_stack="$stack-edge"
sha256() { python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

if [[ $preflight == 1 ]]; then
  # shellcheck source=scripts/lib/preflight.sh
  source scripts/lib/preflight.sh
  preflight_checks
  exit $?
fi

if [[ $dry_run == 1 ]]; then
  step "DRY RUN: nothing is built, uploaded or changed; this is the plan for stack $stack (prefix $prefix)"
  [[ -n $region ]] || region="<region>"
else
  preflight_aws
  command -v cargo > /dev/null || die "cargo not found: install Rust"
  rustup target list --installed 2> /dev/null | grep '^aarch64-unknown-linux-gnu$' > /dev/null ||
    die "the arm64 Rust target is missing: rustup target add aarch64-unknown-linux-gnu"
  if [[ -z $runtime_image ]]; then
    rustup target list --installed 2> /dev/null | grep '^aarch64-unknown-linux-musl$' > /dev/null ||
      die "the static arm64 Rust target (the agent image) is missing: rustup target add aarch64-unknown-linux-musl"
    command -v skopeo > /dev/null || die "skopeo not found: it pushes the agent image (apt-get install skopeo), or pass --runtime-image"
  fi
fi
artifacts="$prefix-artifacts-$account-$region"
# <crate>:<stem> of every function in the template (its package goes to <Stem>CodeKey); a
# command substitution, so a failure to read the template stops the script.
functions=$(template functions)

step "1/9 Template: check infra/template.json is the rendering of its sources"
run cargo run --quiet --locked -p infra-template -- --check

step "2/9 Build the functions for Lambda (provided.al2023, arm64) with cargo lambda"
[[ $dry_run == 1 ]] || scripts/install-standins.sh > /dev/null
# One package per build (-p): built with the workspace's other members selected (no -p, even
# with --bin), cargo unifies the features of all their dependencies and every binary carries
# what any of them needs (tool-target: 8.83 instead of 8.30 MB).
for crate in $(for f in $functions; do echo "${f%%:*}"; done | sort -u); do
  PATH="$PWD/.tools/venv/bin:$PATH" run cargo lambda build --release --arm64 --output-format zip --locked -p "$crate" --bin "$crate"
done

step "3/9 Artifact bucket s3://$artifacts (private, TLS-only, versioned) and the packages"
if [[ $dry_run == 1 ]]; then
  echo "    would create the bucket if absent, then upload target/lambda/<function>/bootstrap.zip as functions/<function>/<sha256>.zip"
elif aws_cmd s3api head-bucket --bucket "$artifacts" 2> /dev/null; then
  echo "    bucket exists"
else
  if [[ $region == us-east-1 ]]; then
    aws_cmd s3api create-bucket --bucket "$artifacts" > /dev/null
  else
    aws_cmd s3api create-bucket --bucket "$artifacts" --create-bucket-configuration "LocationConstraint=$region" > /dev/null
  fi
  aws_cmd s3api put-public-access-block --bucket "$artifacts" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  aws_cmd s3api put-bucket-versioning --bucket "$artifacts" --versioning-configuration Status=Enabled
  aws_cmd s3api put-bucket-policy --bucket "$artifacts" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"DenyRequestsWithoutTls\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:*\",\"Resource\":[\"arn:aws:s3:::$artifacts\",\"arn:aws:s3:::$artifacts/*\"],\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\"}}}]}"
  echo "    bucket created"
fi
# Each package is pinned by its object version, and that version's SHA-256 (S3's stored
# checksum) must be the one of the zip built here: a key written again by someone else is
# uploaded anew, never deployed. After the stack, each function's CodeSha256 is checked too.
code_params=()
declare -A built_sha
for entry in $functions; do
  f=${entry%%:*}
  zip="target/lambda/$f/bootstrap.zip"
  if [[ $dry_run == 1 ]]; then
    key="functions/$f/<sha256>.zip"
    version="<version id>"
    run aws s3api head-object --bucket "$artifacts" --key "$key" --checksum-mode ENABLED
    echo "    when absent, or its ChecksumSHA256 is not the zip's, upload it (a new version) and pin that version:"
    run aws s3api put-object --bucket "$artifacts" --key "$key" --body "$zip" --checksum-algorithm SHA256
  else
    [[ -f $zip ]] || die "$zip was not built"
    key="functions/$f/$(sha256 "$zip").zip"
    want=$(python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1],"rb").read()).digest()).decode())' "$zip")
    built_sha[$f]=$want
    read -r have version < <(aws_cmd s3api head-object --bucket "$artifacts" --key "$key" --checksum-mode ENABLED \
      --query '[ChecksumSHA256, VersionId]' --output text 2> /dev/null || echo "None None")
    if [[ $have == "$want" && $version != None ]]; then
      echo "    $key already uploaded (version $version, SHA-256 checked)"
    else
      read -r have version < <(aws_cmd s3api put-object --bucket "$artifacts" --key "$key" --body "$zip" \
        --checksum-algorithm SHA256 --query '[ChecksumSHA256, VersionId]' --output text)
      [[ $have == "$want" ]] || die "S3 stored $key with SHA-256 $have, not the built $want: run this again"
      [[ $version != None && -n $version ]] ||
        die "s3://$artifacts has no versioning (no version id for $key): aws s3api put-bucket-versioning --bucket $artifacts --versioning-configuration Status=Enabled, then run this again"
      echo "    uploaded $key (version $version)"
    fi
  fi
  code_params+=("${entry#*:}CodeKey=$key" "${entry#*:}CodeVersion=$version")
done

repo="$prefix-agent-runtime"
registry="$account.dkr.ecr.$region.amazonaws.com"
step "4/9 Agent image: static arm64 binary, OCI image (non-root, no base image), ECR repository $repo, deployed by digest"
if [[ -n $runtime_image ]]; then
  echo "    using --runtime-image $runtime_image (nothing built or pushed)"
elif [[ $dry_run == 1 ]]; then
  echo "    would build: cargo lambda build --release --target aarch64-unknown-linux-musl -p agent-runtime --bin agent-runtime"
  echo "    would assemble: cargo run -p agent-image -- --binary target/lambda/agent-runtime/bootstrap --out target/agent-image (prints the manifest digest)"
  echo "    would create the ECR repository $repo if absent (immutable tags, scan on push, KMS encryption, last 20 images kept)"
  echo "    would push: skopeo copy --preserve-digests oci:target/agent-image:latest docker://$registry/$repo:<digest tag>"
  runtime_image="$registry/$repo@sha256:<manifest digest>"
  echo "    the runtimes run $runtime_image"
else
  PATH="$PWD/.tools/venv/bin:$PATH" cargo lambda build --release --locked --target aarch64-unknown-linux-musl -p agent-runtime --bin agent-runtime
  digest=$(cargo run --quiet --locked -p agent-image -- --binary target/lambda/agent-runtime/bootstrap \
    --out target/agent-image --created "$(git log -1 --format=%cI 2> /dev/null || echo 1970-01-01T00:00:00Z)" \
    --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2> /dev/null || echo unknown)" \
    --label "org.opencontainers.image.title=tenantry agent-runtime")
  [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "agent-image printed no digest"
  if ! aws_cmd ecr describe-repositories --repository-names "$repo" > /dev/null 2>&1; then
    aws_cmd ecr create-repository --repository-name "$repo" --image-tag-mutability IMMUTABLE \
      --image-scanning-configuration scanOnPush=true --encryption-configuration encryptionType=KMS \
      --tags Key=Application,Value=tenantry > /dev/null
    aws_cmd ecr put-lifecycle-policy --repository-name "$repo" --lifecycle-policy-text \
      '{"rules":[{"rulePriority":1,"description":"keep the last 20 images","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":20},"action":{"type":"expire"}}]}' > /dev/null
    echo "    repository $repo created"
  fi
  if aws_cmd ecr describe-images --repository-name "$repo" --image-ids "imageDigest=$digest" > /dev/null 2>&1; then
    echo "    image $digest already pushed"
  else
    aws_cmd ecr get-login-password | skopeo login --username AWS --password-stdin "$registry" > /dev/null
    # Tags are immutable in the repository: the tag is derived from the content.
    skopeo copy --quiet --preserve-digests oci:target/agent-image:latest "docker://$registry/$repo:sha256-${digest#sha256:}"
    echo "    pushed $digest"
  fi
  runtime_image="$registry/$repo@$digest"
fi

step "5/9 Keys: SSM SecureStrings $page_key_param (tool-target's page tokens), $session_key_param (runtime sessions; request-proxy and the agents) and $origin_param (CloudFront's origin secret for the API's web ACL), created once, never printed"
for key_param in "$page_key_param" "$session_key_param" "$origin_param"; do
  creates ssm-parameter "$key_param"
  if [[ $dry_run == 1 ]]; then
    echo "    $key_param: would create it from 32 random bytes if absent"
  elif aws_cmd ssm get-parameter --name "$key_param" > /dev/null 2>&1; then
    echo "    $key_param: exists"
  else
    # The key goes through a private file, never on a command line (where `ps` shows it).
    key_input=$(mktemp)
    chmod 600 "$key_input"
    python3 - "$key_param" > "$key_input" << 'PY'
import base64, json, os, sys
print(json.dumps({"Name": sys.argv[1], "Type": "SecureString", "Description": "Tenantry key",
                  "Value": base64.b64encode(os.urandom(32)).decode()}))
PY
    aws_cmd ssm put-parameter --cli-input-json "file://$key_input" > /dev/null
    rm -f "$key_input"
    echo "    $key_param: created"
  fi
done

step "6/9 Bedrock projects per tier with cost-allocation tags (before the stack: each tier's agent reads its project's id when it starts)"
if [[ $bedrock_projects == 1 ]]; then
  for parameter in $(python3 -c 'import json; print(" ".join(t["bedrock_project"]["ssm_parameter"] for t in json.load(open("infra/tiers.json"))["tiers"].values()))'); do
    creates ssm-parameter "$parameter"
  done
  bp_args=()
  [[ $dry_run == 1 ]] && bp_args+=(--dry-run)
  [[ $dry_run == 0 ]] && bp_args+=(--region "$region")
  [[ -n $profile ]] && bp_args+=(--profile "$profile")
  scripts/bedrock-projects.sh "${bp_args[@]}" | sed 's/^/    /'
else
  echo "    skipped (--skip-bedrock-projects): the tier projects must exist already (without one, the tier's model calls are refused)"
fi

step "7/9 CloudFormation stack $stack (this takes 10-20 minutes the first time)"
creates stack "$stack"
if [[ $dry_run == 1 ]]; then
  echo "    resources of infra/template.json (names resolved for prefix $prefix):"
  template list
fi
# The edge stack first: CloudFront takes its web ACL from us-east-1 only, whatever the Region.
creates stack "$edge_stack"
edge_opts=()
[[ -n $profile ]] && edge_opts+=(--profile "$profile")
edge_opts+=(--region us-east-1)
echo "    the edge stack $edge_stack in us-east-1 (infra/edge-template.json: the web ACL in front of CloudFront)"
run aws "${edge_opts[@]}" cloudformation deploy --template-file infra/edge-template.json --stack-name "$edge_stack" \
  --no-fail-on-empty-changeset --tags Application=tenantry --parameter-overrides "NamePrefix=$prefix"
if [[ $dry_run == 1 ]]; then
  edge_acl="<EdgeWebAclArn output of $edge_stack>"
  origin_secret="<the value of $origin_param>"
else
  edge_acl=$(aws "${edge_opts[@]}" cloudformation describe-stacks --stack-name "$edge_stack" \
    --query "Stacks[0].Outputs[?OutputKey=='EdgeWebAclArn'].OutputValue" --output text)
  [[ $edge_acl == arn:* ]] || die "the edge stack $edge_stack has no EdgeWebAclArn output: see its events in us-east-1, then run this again"
  origin_secret=$(aws_cmd ssm get-parameter --name "$origin_param" --with-decryption --query Parameter.Value --output text)
fi
deploy_stack() { # deploy_stack on|off
  # The overrides go through a private file: the origin secret is never on a command line.
  local overrides
  overrides=$(mktemp)
  chmod 600 "$overrides"
  python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "NamePrefix=$prefix" "ArtifactBucket=$artifacts" \
    "AgentRuntimeImageUri=$runtime_image" "StackPurpose=$stack_purpose" "ReservedConcurrency=$reserved_concurrency" \
    "PageTokenKeyParameter=$page_key_param" "SessionKeyParameter=$session_key_param" "DeletionProtection=$1" \
    "PolicyValidationMode=$policy_validation" "EdgeWebAclArn=$edge_acl" "OriginVerifySecret=$origin_secret" \
    "${code_params[@]}" > "$overrides"
  local from="file://$overrides"
  if [[ $dry_run == 1 ]]; then
    echo "    parameter overrides (a private file): $(python3 -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))))' "$overrides")"
    from="file://<the private file>"
  fi
  run aws "${aws_opts[@]}" cloudformation deploy --template-file infra/template.json --stack-name "$stack" \
    --s3-bucket "$artifacts" --s3-prefix templates --capabilities CAPABILITY_NAMED_IAM \
    --no-fail-on-empty-changeset --tags Application=tenantry --parameter-overrides "$from"
  rm -f "$overrides"
}
# A new stack is created with deletion protection off: if its creation fails, CloudFormation
# rolls back and deletes what it made (RetainExceptOnCreate), which protected tables and a
# protected user pool would refuse, and the retry would then fail on their names.
status=NONE
if [[ $dry_run == 0 ]]; then
  status=$(aws_cmd cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].StackStatus' --output text 2> /dev/null || echo NONE)
fi
# A production stack is never turned into a test stack (that would relax MFA for real users).
if [[ $test_stack == 1 && $status != NONE && $status != ROLLBACK_COMPLETE ]]; then
  current=$(aws_cmd cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Parameters[?ParameterKey=='StackPurpose'].ParameterValue" --output text)
  [[ $current == test ]] ||
    die "stack $stack is a production stack: --test-stack would relax MFA for its users. Deploy the test stack under another name (--stack-name, --name-prefix)"
fi
case $status in
  ROLLBACK_COMPLETE)
    echo "    a previous first creation failed and rolled back (it kept nothing): deleting the empty stack to create it again"
    aws_cmd cloudformation delete-stack --stack-name "$stack"
    aws_cmd cloudformation wait stack-delete-complete --stack-name "$stack"
    status=NONE ;;
  ROLLBACK_FAILED | DELETE_FAILED)
    die "stack $stack is $status: a rollback could not delete some resources. See its events (aws cloudformation describe-stack-events --stack-name $stack), remove what is left (scripts/cleanup.sh), then run this again" ;;
  *_IN_PROGRESS)
    die "stack $stack is $status: wait until it has finished, then run this again" ;;
esac
if [[ $status == NONE ]]; then
  [[ $dry_run == 1 ]] && echo "    a new stack: created with DeletionProtection=off, then updated to on"
  deploy_stack off
  echo "    created; turning deletion protection on (tables, user pool)"
fi
deploy_stack on
if [[ $dry_run == 0 ]]; then
  aws_cmd cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output json > "$outputs_file"
  echo "    outputs saved to $outputs_file"
  # What each function runs is the zip built here (Lambda's CodeSha256 is its base64 SHA-256).
  for entry in $functions; do
    f=${entry%%:*}
    name=$(template function-name "${entry#*:}")
    running=$(aws_cmd lambda get-function-configuration --function-name "$name" --query CodeSha256 --output text) ||
      die "reading $name's code hash failed: check the caller's Lambda permissions"
    [[ $running == "${built_sha[$f]}" ]] ||
      die "$name runs code with SHA-256 $running, not the package built here (${built_sha[$f]}): do not use it; investigate who wrote s3://$artifacts, then run this again"
  done
  echo "    every function runs the package built here (CodeSha256 checked)"
else
  echo "    then each function's code hash must be the built zip's SHA-256:"
  run aws lambda get-function-configuration --function-name "<each function>" --query CodeSha256
fi
# AgentCore creates each runtime's log group itself (named after the runtime id it assigns), so
# the template cannot declare it: put it under the data key and the stack's retention here. An
# existing group gets both; a missing one (no session yet) is created with both.
echo "    the runtimes' log groups: the data key and the stack's log retention"
if [[ $dry_run == 1 ]]; then
  for tier in $(tiers); do
    group="/aws/bedrock-agentcore/runtimes/<${tier} runtime id>-DEFAULT"
    echo "    tier $tier: $group (the tier's <Tier>RuntimeLogGroup output)"
    run aws logs describe-log-groups --log-group-name-prefix "$group"
    echo "    if it does not exist yet (no session so far), create it under the data key; else put it under the key:"
    run aws logs create-log-group --log-group-name "$group" --kms-key-id '<DataKeyArn output>'
    run aws logs associate-kms-key --log-group-name "$group" --kms-key-id '<DataKeyArn output>'
    run aws logs put-retention-policy --log-group-name "$group" --retention-in-days '<LogRetentionDays output>'
  done
else
  read -r data_key retention < <(python3 -c 'import json,sys; o={x["OutputKey"]: x["OutputValue"] for x in json.load(open(sys.argv[1]))}; print(o["DataKeyArn"], o["LogRetentionDays"])' "$outputs_file")
  for group in $(python3 -c 'import json,sys; print("\n".join(x["OutputValue"] for x in json.load(open(sys.argv[1])) if x["OutputKey"].endswith("RuntimeLogGroup")))' "$outputs_file"); do
    found=$(aws_cmd logs describe-log-groups --log-group-name-prefix "$group" --query "logGroups[?logGroupName=='$group'].logGroupName" --output text) ||
      die "reading log group $group failed: check the caller's CloudWatch Logs permissions, then run this again"
    if [[ -z $found ]]; then
      aws_cmd logs create-log-group --log-group-name "$group" --kms-key-id "$data_key" ||
        die "creating log group $group under the data key failed: run this again (the stack is deployed)"
    else
      aws_cmd logs associate-kms-key --log-group-name "$group" --kms-key-id "$data_key" ||
        die "putting log group $group under the data key failed: run this again (the stack is deployed)"
    fi
    aws_cmd logs put-retention-policy --log-group-name "$group" --retention-in-days "$retention" ||
      die "setting the retention of log group $group failed: run this again (the stack is deployed)"
    echo "    $group under the data key, kept $retention days"
  done
fi

step "8/9 The web chat: the page and its config.json to the site bucket, then a CloudFront refresh"
if [[ $dry_run == 1 ]]; then
  echo "    would upload web/index.html, app.js and style.css to the SiteBucket output with a config.json"
  echo "    made from the outputs (API under api/<stage>/ on the same origin; sign-in at SignInUrl with"
  echo "    PKCE, back to WebUrl), then invalidate the SiteDistributionId distribution"
else
  web_config=$(mktemp)
  python3 - "$outputs_file" "$web_config" "$region" << 'PY'
import json, sys, urllib.parse
outputs = {o["OutputKey"]: o["OutputValue"] for o in json.load(open(sys.argv[1]))}
stage = urllib.parse.urlparse(outputs["ApiEndpoint"]).path.strip("/").split("/")[0]
json.dump({
    "apiUrl": f"api/{stage}/invoke",
    "usageUrl": f"api/{stage}/usage",
    "auditUrl": f"api/{stage}/audit",
    "cognito": {
        "region": sys.argv[3],
        "clientId": outputs["UserPoolClientId"],
        "signInUrl": outputs["SignInUrl"],
        "redirectUri": outputs["WebUrl"],
    },
}, open(sys.argv[2], "w"), indent=2)
PY
  site_bucket=$(python3 -c 'import json,sys; print({o["OutputKey"]: o["OutputValue"] for o in json.load(open(sys.argv[1]))}["SiteBucketName"])' "$outputs_file")
  distribution=$(python3 -c 'import json,sys; print({o["OutputKey"]: o["OutputValue"] for o in json.load(open(sys.argv[1]))}["SiteDistributionId"])' "$outputs_file")
  # Short caching, so a redeploy reaches browsers within minutes even without the invalidation.
  for f in index.html app.js style.css; do
    aws_cmd s3 cp --only-show-errors --cache-control "max-age=300" "web/$f" "s3://$site_bucket/$f"
  done
  aws_cmd s3 cp --only-show-errors --cache-control "no-cache" --content-type application/json "$web_config" "s3://$site_bucket/config.json"
  rm -f "$web_config"
  aws_cmd cloudfront create-invalidation --distribution-id "$distribution" --paths "/*" > /dev/null
  echo "    uploaded to s3://$site_bucket; distribution $distribution refreshing"
fi

step "9/9 Tenants from $tenants_file"
if [[ $onboard == 0 ]]; then
  echo "    skipped (--no-tenants)"
else
  admin=(cargo run --quiet --locked -p tenant-admin -- onboard --tenants "$tenants_file")
  if [[ $dry_run == 1 ]]; then
    admin+=(--dry-run --name-prefix "$prefix")
  else
    admin+=(--outputs "$outputs_file")
  fi
  [[ $test_users == 1 ]] && admin+=(--test-users "$state_dir/$stack-test-users.json")
  if ! "${admin[@]}" | sed 's/^/    /'; then
    # deploy.sh never gives an offboarded id out again: that is a decision per clinic.
    die "onboarding stopped; the reason is above. If it names a clinic that was offboarded, that is on purpose (its id is tombstoned): take the clinic out of $tenants_file, or give its id out again by hand with tenant-admin onboard --reuse-id (docs/deploying.md, \"Offboarding, export and erasure\"); then run this again"
  fi
fi

if [[ $dry_run == 1 ]]; then
  step "Dry run complete: nothing was changed"
  exit 0
fi
step "Deployed. Endpoints:"
python3 - "$outputs_file" << 'PY'
import json, sys
outputs = {o["OutputKey"]: o["OutputValue"] for o in json.load(open(sys.argv[1]))}
for key in sorted(outputs):
    if key.endswith(("Endpoint", "Url", "RuntimeArn")) or key in ("UserPoolId", "UserPoolClientId", "TokenIssuer"):
        print(f"    {key:28} {outputs[key]}")
PY
[[ $test_users == 1 ]] && echo "    test users' credentials: $state_dir/$stack-test-users.json (mode 600; delete when done)"
echo "    documents go to s3://<tier documents bucket>/<tier>-tier/<clinic_id>/<doc-type>/ with .metadata.json sidecars;"
echo "    then start an ingestion job: aws bedrock-agent start-ingestion-job --knowledge-base-id <id> --data-source-id <id>"
