#!/usr/bin/env bash
# Cost attribution for the models: one Amazon Bedrock project per tier, tagged for cost allocation,
# with the tier's data retention mode. Names, SSM parameters and retention modes come from
# infra/tiers.json (`tiers.<tier>.bedrock_project`).
#
# Usage: scripts/bedrock-projects.sh [--region R] [--profile P] [--cost-center V] [--dry-run] [--delete]
#   (default)        for each tier: find the ACTIVE project named bedrock_project.name, or create it
#                    with the tags Application=tenantry and Tier=<tier>; set its data retention to
#                    bedrock_project.data_retention (`none`: zero retention); store its id in the tier's
#                    bedrock_project.ssm_parameter (String); then activate the cost allocation tag
#                    keys Application, Tier and ClinicId in Cost Explorer. Safe to re-run.
#   --delete         archive each tier's project (Bedrock has no delete: archiving is terminal) and
#                    delete its SSM parameter. Safe to re-run. Cost allocation tags stay active.
#   --dry-run        print every AWS call the run would make, then exit 0 (no aws CLI, no account)
#   --region R       Region of the projects and parameters (default: AWS_REGION, AWS_DEFAULT_REGION,
#                    then the profile's region); Cost Explorer is called at its endpoint, us-east-1
#   --profile P      AWS CLI profile to use
#   --cost-center V  also tag the projects CostCenter=V and activate the CostCenter key
#   -h, --help       this text
#
# Needs: python3; for a real run AWS CLI v2 recent enough to have `aws bedrock create-project`.
# The agent runtime reads the id from the SSM parameter and sends it with every model call on
# https://bedrock-mantle.<region>.api.aws/v1 (OpenAI `project` option / OpenAI-Project header).
#
# The API, as documented by AWS (Amazon Bedrock API Reference, control plane `bedrock`, 2023-04-20):
#   CreateProject  POST /projects {name, tags:[{key,value}], dataRetention?{mode}} -> {id:"proj_...", arn,...}
#   GetProject     GET /projects/{id} -> {..., dataRetention:{mode}}; an omitted mode is `inherit`
#   UpdateProject  POST /projects/{id} {name | dataRetention} (exactly one)
#   ListProjects   GET /projects?statusFilter=active|archived (paginated; names need not be unique)
#   ArchiveProject POST /projects/{id}/archive  (terminal; "there is no delete"; repeat = no effect)
#   CLI: aws bedrock create-project | list-projects | get-project | update-project | archive-project
# Tags are set on CreateProject. For a project that already exists the script re-applies them with
# `aws bedrock tag-resource` (botocore 1.44's model lists project ARNs,
# `project/proj_[a-z2-7]{20}`, in TagResource's pattern); a refusal there is only a warning.
# The operations are in botocore's model from 1.44 (the project's pinned one); an older CLI
# without them says "invalid choice", and the script stops and says to update it.
set -euo pipefail
cd "$(dirname "$0")/.."

tiers_file=infra/tiers.json
application=tenantry
cost_keys=(Application Tier ClinicId)
ce_region=us-east-1

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 1; }
warn() { echo "warning: $*" >&2; warnings=$((warnings + 1)); }
warnings=0

region="" profile="" cost_center="" dry_run=0 delete=0
need_value() { [[ $# -ge 2 && -n $2 && $2 != --* ]] || die "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --region) need_value "$@"; region=$2; shift 2 ;;
    --region=*) region=${1#*=}; shift ;;
    --profile) need_value "$@"; profile=$2; shift 2 ;;
    --profile=*) profile=${1#*=}; shift ;;
    --cost-center) need_value "$@"; cost_center=$2; shift 2 ;;
    --cost-center=*) cost_center=${1#*=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    --delete) delete=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
if [[ -n $region && ! $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
  die "'$region' is not an AWS Region name (e.g. us-east-1)"
fi
if [[ -n $cost_center ]]; then
  [[ ${#cost_center} -le 256 && $cost_center =~ ^[A-Za-z0-9\ _.:/=+@-]+$ ]] ||
    die "--cost-center: use at most 256 letters, digits, spaces and _.:/=+@- (an AWS tag value)"
  cost_keys+=(CostCenter)
fi

command -v python3 > /dev/null ||
  die "python3 not found: install it (this script reads $tiers_file with it)"

# One line per tier: tier<TAB>project name<TAB>SSM parameter, validated.
tiers_tsv=$(python3 - "$tiers_file" << 'PY'
import json, re, sys
path = sys.argv[1]
try:
    with open(path) as f:
        tiers = json.load(f).get("tiers")
except (OSError, ValueError) as e:
    sys.exit(f"error: cannot read {path}: {e}")
if not isinstance(tiers, dict) or not tiers:
    sys.exit(f"error: {path} defines no tiers")
for tier, cfg in tiers.items():
    where = f"{path}: tiers.{tier}.bedrock_project"
    bp = cfg.get("bedrock_project") if isinstance(cfg, dict) else None
    if not isinstance(bp, dict):
        sys.exit(f"error: {where} is missing")
    name, param, retention = bp.get("name"), bp.get("ssm_parameter"), bp.get("data_retention")
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", tier):
        sys.exit(f"error: {path}: tier name {tier!r} is not lower-case letters, digits and hyphens")
    # The stricter of the two documented rules (API: 1-127 chars; CloudFormation: this pattern, <= 64).
    if not isinstance(name, str) or len(name) > 64 or not re.fullmatch(r"([0-9a-zA-Z][ _-]?)+", name):
        sys.exit(f"error: {where}.name must be 1-64 letters/digits, single ' ', '_' or '-' between them")
    if not isinstance(param, str) or not re.fullmatch(r"/[A-Za-z0-9_.\-/]{1,1010}", param):
        sys.exit(f"error: {where}.ssm_parameter must be an SSM parameter path starting with '/'")
    # Prompts carry patient data: only the modes that keep it from reviewers and model providers,
    # and never `inherit`, which would leave it to an account setting this script does not see.
    if retention not in ("none", "default"):
        sys.exit(f"error: {where}.data_retention must be 'none' (zero retention) or 'default'")
    print(f"{tier}\t{name}\t{param}\t{retention}")
PY
)

# The tags of a tier's project, as the Bedrock API takes them: [{"key":..,"value":..}, ...].
project_tags() {
  python3 - "$application" "$1" "$cost_center" << 'PY'
import json, sys
app, tier, cost_center = sys.argv[1:4]
tags = [{"key": "Application", "value": app}, {"key": "Tier", "value": tier}]
if cost_center:
    tags.append({"key": "CostCenter", "value": cost_center})
print(json.dumps(tags, separators=(",", ":")))
PY
}

# The dataRetention argument of CreateProject and UpdateProject: {"mode": ...}.
retention_arg() { printf '{"mode":"%s"}' "$1"; }

aws_args=(--output json)
[[ -n $region ]] && aws_args+=(--region "$region")
[[ -n $profile ]] && aws_args+=(--profile "$profile")
ce_args=(--output json --region "$ce_region")
[[ -n $profile ]] && ce_args+=(--profile "$profile")
ce_status_args=()
for k in "${cost_keys[@]}"; do ce_status_args+=("TagKey=$k,Status=Active"); done

# Prints a command the way a shell would take it back.
show() {
  local out="   " a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
  done
  echo "$out"
}

if [[ $dry_run -eq 1 ]]; then
  shown_region=${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-<default region of the profile>}}}
  if [[ $delete -eq 1 ]]; then
    echo "==> Dry run: archive the tier projects and delete their SSM parameters (region $shown_region)"
  else
    echo "==> Dry run: ensure one tagged Bedrock project per tier (region $shown_region)"
  fi
  echo "==> Preflight: aws CLI v2 with the Bedrock project commands, a Region, credentials"
  show aws bedrock list-projects --generate-cli-skeleton input
  show aws "${aws_args[@]}" sts get-caller-identity
  echo "==> List the active projects once (the CLI follows nextToken)"
  show aws "${aws_args[@]}" bedrock list-projects --status-filter active
  while IFS=$'\t' read -r -u 3 tier name param retention; do
    if [[ $delete -eq 1 ]]; then
      echo "==> Tier $tier: archive every active project named '$name' (if there is none: nothing to do)"
      show aws "${aws_args[@]}" bedrock archive-project --project-identifier '<project id>'
      echo "==> Tier $tier: delete $param (if already absent: nothing to do)"
      show aws "${aws_args[@]}" ssm delete-parameter --name "$param"
    else
      tags=$(project_tags "$tier")
      echo "==> Tier $tier: project '$name'; the id goes to $param"
      show aws "${aws_args[@]}" ssm get-parameter --name "$param"
      echo "    if no active project has that name, create it with data retention '$retention':"
      show aws "${aws_args[@]}" bedrock create-project --name "$name" --tags "$tags" --data-retention "$(retention_arg "$retention")"
      echo "    if exactly one has it (or several, and one is the id already in $param), re-tag it:"
      show aws "${aws_args[@]}" bedrock tag-resource --resource-arn '<project arn>' --tags "$tags"
      echo "    and read its data retention; when it is not '$retention', set it:"
      show aws "${aws_args[@]}" bedrock get-project --project-identifier '<project id>'
      show aws "${aws_args[@]}" bedrock update-project --project-identifier '<project id>' --data-retention "$(retention_arg "$retention")"
      echo "    then store the id (skipped when $param already holds it) and tag the parameter:"
      show aws "${aws_args[@]}" ssm put-parameter --name "$param" --type String --value '<project id>' --overwrite
      show aws "${aws_args[@]}" ssm add-tags-to-resource --resource-type Parameter --resource-id "$param" \
        --tags "Key=Application,Value=$application" "Key=Tier,Value=$tier"
    fi
  done 3<<< "$tiers_tsv"
  if [[ $delete -eq 0 ]]; then
    echo "==> Activate the cost allocation tag keys ${cost_keys[*]} (Cost Explorer, $ce_region)"
    show aws "${ce_args[@]}" ce update-cost-allocation-tags-status --cost-allocation-tags-status "${ce_status_args[@]}"
    echo "    Keys Billing has not seen on a resource yet come back as errors: re-run after first use"
  else
    echo "==> Cost allocation tags are left active (other resources and past reports use them)"
  fi
  echo "==> Dry run only: nothing was changed"
  exit 0
fi

# ---- preflight ----------------------------------------------------------------------------------
command -v aws > /dev/null ||
  die "aws CLI v2 not found: install it (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html) or use --dry-run"
cli_version=$(aws --version 2>&1 || true)
[[ $cli_version == aws-cli/2.* ]] ||
  die "aws CLI v2 not found (this is '${cli_version%% *}'): install AWS CLI v2 or use --dry-run"
aws bedrock list-projects --generate-cli-skeleton input > /dev/null 2>&1 ||
  die "this aws CLI (${cli_version%% *}) has no 'aws bedrock list-projects': update AWS CLI v2 to a release with the Bedrock Projects API, or use --dry-run"
export AWS_PAGER=""

if [[ -z $region ]]; then
  region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
  [[ -n $region ]] || region=$(aws configure get region ${profile:+--profile "$profile"} 2> /dev/null || true)
  [[ -n $region ]] || die "no AWS Region: pass --region (e.g. --region us-east-1) or set AWS_REGION"
  aws_args+=(--region "$region")
fi

errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT
out="" err_text=""
# Runs `aws` with the common arguments: stdout in $out, stderr in $err_text; returns its status.
call() {
  err_text=""
  if out=$(aws "${aws_args[@]}" "$@" < /dev/null 2> "$errfile"); then return 0; fi
  err_text=$(tr '\n' ' ' < "$errfile" | sed 's/ *$//')
  return 1
}

call sts get-caller-identity ||
  die "no usable AWS credentials ($err_text): run 'aws configure' or 'aws sso login${profile:+ --profile $profile}', or use --dry-run"
account=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Account"])' <<< "$out")
echo "==> Account $account, Region $region"

call bedrock list-projects --status-filter active ||
  die "listing Bedrock projects failed ($err_text): check the Region and the caller's IAM permissions for Bedrock projects"
active_projects=$out

# Active projects with exactly this name: id<TAB>arn per line.
projects_named() {
  python3 -c '
import json, sys
for p in json.load(sys.stdin).get("projectSummaries", []):
    if p.get("name") == sys.argv[1] and p.get("status") == "active":
        print(p["id"] + "\t" + p.get("arn", ""))
' "$1" <<< "$active_projects"
}

# The value of an SSM parameter, or nothing when it does not exist.
ssm_value() {
  if call ssm get-parameter --name "$1"; then
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Parameter"]["Value"])' <<< "$out"
  elif [[ $err_text == *ParameterNotFound* ]]; then
    echo ""
  else
    die "reading $1 failed ($err_text)"
  fi
}

# ---- delete -------------------------------------------------------------------------------------
if [[ $delete -eq 1 ]]; then
  while IFS=$'\t' read -r -u 3 tier name param retention; do
    found=$(projects_named "$name")
    if [[ -z $found ]]; then
      echo "==> Tier $tier: no active project named '$name'"
    fi
    while IFS=$'\t' read -r -u 4 id _; do
      [[ -n $id ]] || continue
      echo "==> Tier $tier: archiving project $id ('$name')"
      call bedrock archive-project --project-identifier "$id" ||
        die "archiving $id failed ($err_text): archive it in the Bedrock console or re-run"
    done 4<<< "$found"
    if call ssm delete-parameter --name "$param"; then
      echo "==> Tier $tier: deleted $param"
    elif [[ $err_text == *ParameterNotFound* ]]; then
      echo "==> Tier $tier: $param already absent"
    else
      die "deleting $param failed ($err_text)"
    fi
  done 3<<< "$tiers_tsv"
  echo "==> Done. Cost allocation tags stay active; archived projects keep their cost history."
  exit 0
fi

# ---- ensure -------------------------------------------------------------------------------------
summary=()
while IFS=$'\t' read -r -u 3 tier name param retention; do
  tags=$(project_tags "$tier")
  tags_text="Application=$application Tier=$tier${cost_center:+ CostCenter=$cost_center}"
  current=$(ssm_value "$param")
  found=$(projects_named "$name")
  count=$(grep -c . <<< "$found" || true)
  id="" arn=""
  if [[ $count -eq 0 ]]; then
    echo "==> Tier $tier: creating project '$name'"
    call bedrock create-project --name "$name" --tags "$tags" --data-retention "$(retention_arg "$retention")" ||
      die "creating project '$name' failed ($err_text): check the caller's IAM permissions for Bedrock projects and the Region"
    IFS=$'\t' read -r id arn < <(python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p["id"] + "\t" + p.get("arn", ""))' <<< "$out")
  else
    if [[ $count -gt 1 ]]; then
      # Names need not be unique: prefer the project the tier already uses.
      match=$(awk -F'\t' -v id="$current" '$1 == id' <<< "$found")
      [[ -n $current && -n $match ]] ||
        die "$count active projects are named '$name' ($(cut -f1 <<< "$found" | paste -sd ' ' -)): put the right id into $param or archive the others (aws bedrock archive-project --project-identifier <id>), then re-run"
      found=$match
    fi
    IFS=$'\t' read -r id arn <<< "$found"
    echo "==> Tier $tier: project '$name' exists ($id); applying its tags"
    if [[ -z $arn ]]; then
      warn "no ARN listed for project $id: check in the Bedrock console that it carries $tags_text"
    elif ! call bedrock tag-resource --resource-arn "$arn" --tags "$tags"; then
      warn "could not re-tag project $id ($err_text): check in the Bedrock console that it carries $tags_text"
    fi
  fi
  # The retention a project has (created earlier, or changed by hand) is read back, not assumed.
  call bedrock get-project --project-identifier "$id" ||
    die "reading project $id failed ($err_text): check the caller's IAM permissions for Bedrock projects"
  mode=$(python3 -c '
import json, sys
print((json.load(sys.stdin).get("dataRetention") or {}).get("mode") or "inherit")' <<< "$out")
  if [[ $mode == "$retention" ]]; then
    echo "==> Tier $tier: project $id keeps data retention '$retention'"
  else
    echo "==> Tier $tier: project $id has data retention '$mode'; setting '$retention'"
    call bedrock update-project --project-identifier "$id" --data-retention "$(retention_arg "$retention")" ||
      die "setting data retention '$retention' on project $id failed ($err_text): the tier's model calls would run under '$mode'; fix the permission (bedrock:UpdateProject) and re-run"
  fi
  if [[ $current == "$id" ]]; then
    echo "==> Tier $tier: $param already holds $id"
  else
    echo "==> Tier $tier: writing $id to $param"
    call ssm put-parameter --name "$param" --type String --value "$id" --overwrite ||
      die "writing $param failed ($err_text): the project exists ($id); fix the SSM permissions and re-run"
  fi
  call ssm add-tags-to-resource --resource-type Parameter --resource-id "$param" \
    --tags "Key=Application,Value=$application" "Key=Tier,Value=$tier" ||
    warn "could not tag $param ($err_text)"
  summary+=("$(printf '%-10s %-30s %-8s %s' "$tier" "$id" "$retention" "$param")")
done 3<<< "$tiers_tsv"

echo "==> Activating the cost allocation tag keys ${cost_keys[*]} (Cost Explorer, $ce_region)"
if out=$(aws "${ce_args[@]}" ce update-cost-allocation-tags-status \
  --cost-allocation-tags-status "${ce_status_args[@]}" 2> "$errfile"); then
  failed=$(python3 -c '
import json, sys
for e in json.load(sys.stdin).get("Errors", []):
    print(" ".join(str(e.get(k, "")) for k in ("TagKey", "Code", "Message")))' <<< "$out")
  if [[ -n $failed ]]; then
    while IFS= read -r line; do warn "cost allocation tag $line"; done <<< "$failed"
    warn "a user-defined key can be activated only after Billing has seen it on a resource (up to 24 hours after first use; ClinicId only once per-clinic resources carry it): re-run later"
  fi
else
  warn "activating cost allocation tags failed ($(tr '\n' ' ' < "$errfile" | sed 's/ *$//')): run this from the management (payer) account, or activate ${cost_keys[*]} under Billing > Cost allocation tags"
fi

echo "==> Projects (the agent runtime reads the id from the parameter):"
for line in "${summary[@]}"; do echo "    $line"; done
echo "==> Costs show under these tags in Cost Explorer about a day after activation, from then on."
if [[ $warnings -gt 0 ]]; then
  echo "==> Done, with $warnings warning(s) above"
else
  echo "==> Done"
fi
