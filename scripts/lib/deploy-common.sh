# shellcheck shell=bash
# Shared by scripts/deploy.sh, scripts/cleanup.sh and scripts/upload-document.sh (sourced, not run).
# Options, logging, the dry-run switch and an aws wrapper that honours --region/--profile.

die() { echo "error: $*" >&2; exit 1; }
warn() { echo "warning: $*" >&2; }
step() { echo "==> $*"; }
# What a step creates, one line each, in dry runs and real runs alike: the create-order check
# (scripts/conformance/create_order.py) reads them from the dry run's plan.
creates() { echo "    creates: $*"; }

# shellcheck disable=SC2034 # used by the scripts that source this file
region="" profile="" stack="tenantry" prefix="tenantry" dry_run=0 state_dir=".tools/deploy"

# Parses the options both scripts share; the rest goes to the script's own `extra_option`.
parse_common() {
  while [[ $# -gt 0 ]]; do
    case $1 in
      --stack-name) [[ $# -ge 2 ]] || die "--stack-name needs a value"; stack=$2; shift 2 ;;
      --name-prefix) [[ $# -ge 2 ]] || die "--name-prefix needs a value"; prefix=$2; shift 2 ;;
      --region) [[ $# -ge 2 ]] || die "--region needs a value"; region=$2; shift 2 ;;
      --profile) [[ $# -ge 2 ]] || die "--profile needs a value"; profile=$2; shift 2 ;;
      --dry-run) dry_run=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *)
        # extra_option returns how many arguments it consumed (0: not one of its options)
        local used=0
        extra_option "$@" || used=$?
        [[ $used -gt 0 ]] || die "unknown option '$1' (see --help)"
        shift "$used" ;;
    esac
  done
  [[ $stack =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || die "--stack-name '$stack' is not a CloudFormation stack name"
  [[ $prefix =~ ^[a-z][a-z0-9]{2,15}$ ]] ||
    die "--name-prefix '$prefix': 3-16 lowercase letters and digits, starting with a letter (AgentCore names allow no hyphens)"
  if [[ -n $region && ! $region =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
    die "'$region' is not an AWS Region name (e.g. eu-west-1)"
  fi
}

aws_opts=()
aws_cmd() { aws "${aws_opts[@]}" "$@"; }

# Preflight for a real run: AWS CLI v2, a Region, credentials. Sets account and region.
account="<account>"
preflight_aws() {
  command -v aws > /dev/null || die "aws CLI not found: install AWS CLI v2 (or use --dry-run, which needs no AWS)"
  [[ -n $profile ]] && aws_opts+=(--profile "$profile")
  [[ -z $region ]] && region=$(aws "${aws_opts[@]}" configure get region 2> /dev/null || true)
  [[ -z $region ]] && region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
  [[ -n $region ]] || die "no Region: pass --region, or set AWS_REGION"
  aws_opts+=(--region "$region")
  account=$(aws_cmd sts get-caller-identity --query Account --output text 2> /dev/null) ||
    die "no usable AWS credentials (aws sts get-caller-identity failed): configure them, or pass --profile"
  export AWS_REGION="$region"
  [[ -n $profile ]] && export AWS_PROFILE="$profile"
  step "AWS account $account, Region $region, stack $stack, name prefix $prefix"
}

# Runs a command, or in a dry run prints it.
run() {
  if [[ $dry_run == 1 ]]; then
    local line="    would run:" arg
    for arg in "$@"; do
      if [[ $arg =~ ^[A-Za-z0-9_./:=,@\<\>+-]+$ ]]; then line+=" $arg"; else line+=" '$arg'"; fi
    done
    echo "$line"
  else
    "$@"
  fi
}

# tier names from the tier file, one per line
tiers() {
  python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["tiers"]))' infra/tiers.json
}

# Reads infra/template.json (scripts/lib/template.py): `template list`, `template functions`,
# `template kept <Type>`. Names are resolved for this prefix, Region and account.
template() {
  python3 scripts/lib/template.py "$prefix" "${region:-<region>}" "$account" "$@"
}
