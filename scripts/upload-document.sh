#!/usr/bin/env bash
# Uploads one document for one tenant into its tier's document bucket, in the layout the
# knowledge base and the TVM role expect, with the metadata sidecar the retrieval filter reads:
#   s3://<prefix>-docs-<account>-<region>-<tier>/<tier>-tier/<clinic_id>/<doc-type>/<file>
#   ... and <file>.metadata.json = {"metadataAttributes": {clinic_id, tier, document_type}}
# Then start an ingestion job on the tier's knowledge base to index it.
#
# Usage: scripts/upload-document.sh --clinic ID --tier TIER --type DOC-TYPE FILE [options]
#   --clinic ID        the tenant (clinic id grammar: lowercase letters, digits, single hyphens)
#   --tier TIER        the tenant's tier (from infra/tiers.json); must be the tier it is onboarded in
#   --type DOC-TYPE    document type, e.g. care-protocols (same grammar as clinic ids)
#   --name-prefix P, --region R, --profile P   as for scripts/deploy.sh
#   --dry-run          print the two uploads and the sidecar; needs no AWS
#   -h, --help         this text
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
# shellcheck source=scripts/lib/deploy-common.sh
source scripts/lib/deploy-common.sh

clinic="" tier="" doc_type="" file=""
extra_option() {
  case $1 in
    --clinic) [[ $# -ge 2 ]] || die "--clinic needs a value"; clinic=$2; return 2 ;;
    --tier) [[ $# -ge 2 ]] || die "--tier needs a value"; tier=$2; return 2 ;;
    --type) [[ $# -ge 2 ]] || die "--type needs a value"; doc_type=$2; return 2 ;;
    -*) return 0 ;;
    *) [[ -z $file ]] || die "one file at a time ('$file' and '$1')"; file=$1; return 1 ;;
  esac
}
parse_common "$@"
id_grammar='^[a-z0-9]+(-[a-z0-9]+)*$'
[[ $clinic =~ $id_grammar && ${#clinic} -le 48 ]] || die "--clinic '$clinic': lowercase letters and digits in hyphen-separated groups, at most 48"
[[ $doc_type =~ $id_grammar && ${#doc_type} -le 48 ]] || die "--type '$doc_type': lowercase letters and digits in hyphen-separated groups"
tiers | grep -x -- "$tier" > /dev/null || die "--tier '$tier' is not in infra/tiers.json ($(tiers | tr '\n' ' '))"
[[ -n $file && -f $file ]] || die "give the document file to upload (see --help)"
name=$(basename "$file")
[[ $name != *.metadata.json ]] || die "$name looks like a sidecar; upload the document itself"

[[ $dry_run == 1 ]] || preflight_aws
bucket="$prefix-docs-$account-${region:-<region>}-$tier"
key="$tier-tier/$clinic/$doc_type/$name"
sidecar=$(mktemp)
trap 'rm -f "$sidecar"' EXIT
python3 - "$sidecar" "$clinic" "$tier" "$doc_type" << 'PY'
import json, sys
path, clinic, tier, doc_type = sys.argv[1:5]
json.dump({"metadataAttributes": {"clinic_id": clinic, "tier": tier, "document_type": doc_type}}, open(path, "w"))
PY
step "Document for $clinic ($tier tier), type $doc_type"
[[ $dry_run == 1 ]] && echo "    sidecar: $(cat "$sidecar")"
run aws "${aws_opts[@]}" s3 cp --only-show-errors "$file" "s3://$bucket/$key"
run aws "${aws_opts[@]}" s3 cp --only-show-errors --content-type application/json "$sidecar" "s3://$bucket/$key.metadata.json"
echo "    next: aws bedrock-agent start-ingestion-job --knowledge-base-id <the KnowledgeBaseId output of the tier> --data-source-id <its DataSourceId output>"
