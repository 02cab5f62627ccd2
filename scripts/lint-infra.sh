#!/usr/bin/env bash
# Lints the CloudFormation template(s), offline: cfn-lint must report 0 errors, then checkov must
# report 0 failed checks, and every check it skips must be skipped by an inline suppression that
# gives a reason. Usage: scripts/lint-infra.sh [template ...]   (default: infra/template.json and
# infra/edge-template.json)
# Needs scripts/install-standins.sh (cfn-lint in .tools/venv, checkov in .tools/checkov-venv).
# A check that does not apply is suppressed in the generator (ops/infra-template), on the
# resource: "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_117", "comment": "why"}]}}
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
esac
cfn_lint="$root/.tools/venv/bin/cfn-lint"
ckv_python="$root/.tools/checkov-venv/bin/python"
for tool in "$cfn_lint" "$root/.tools/checkov-venv/bin/checkov"; do
  [[ -x $tool ]] || { echo "error: ${tool#"$root/"} not found; run scripts/install-standins.sh first" >&2; exit 1; }
done

# Paths are taken relative to the caller's directory (the default relative to the repo root);
# both tools then run from the repo root.
if (( $# == 0 )); then cd "$root"; set -- infra/template.json infra/edge-template.json; fi
templates=()
for t in "$@"; do
  if [[ ! -f $t ]]; then
    echo "error: template $t does not exist; run \`cargo run -p infra-template\` (from the repo root) to generate it" >&2
    exit 1
  fi
  templates+=("$(cd "$(dirname "$t")" && pwd)/$(basename "$t")")
done
cd "$root"

# --- cfn-lint -----------------------------------------------------------------------------
# cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational, and 1 = it
# could not run (bad option, config or crash). Policy: errors and 1 fail; warnings and
# informational findings are printed (and counted in the summary line) but do not fail,
# because the bar is "0 errors": W-rules are advice (unused parameters, style) and some
# depend on the region list. To fail on warnings too, add 4 to the mask below.
echo "==> cfn-lint $("$cfn_lint" --version | awk '{print $2}') on $*"
rc=0
"$cfn_lint" -- "${templates[@]}" || rc=$?
if (( rc & ~12 )); then
  echo "==> cfn-lint FAILED (exit $rc): fix the errors above in the generator (ops/infra-template), regenerate with \`cargo run -p infra-template\`, and rerun" >&2
  exit 1
fi
notes=()
(( rc & 4 )) && notes+=("warnings above (not failing)")
(( rc & 8 )) && notes+=("informational findings above (not failing)")
if (( ${#notes[@]} )); then
  joined=$(IFS=';'; echo "${notes[*]}")
  echo "==> cfn-lint: 0 errors; ${joined//;/; }"
else
  echo "==> cfn-lint: 0 errors, 0 warnings"
fi

# --- checkov ------------------------------------------------------------------------------
# Offline: --skip-download and BC_SKIP_MAPPING=TRUE stop the platform calls (policy metadata,
# guidelines, BC id mapping), CKV_SKIP_PACKAGE_UPDATE_CHECK=true stops the PyPI version check,
# and without an API key nothing is uploaded (BC_API_KEY is unset for this run, with
# --skip-results-upload besides). CKV_CHECK/CKV_SKIP_CHECK are unset so that a stray
# environment cannot narrow the checks. Output is JSON (with --quiet checkov's JSON would
# drop the skipped checks and their reasons), summarised below: failures, then suppressions.
echo "==> checkov $("$ckv_python" -c 'from checkov.version import version; print(version)') (CloudFormation checks, offline) on $*"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
files=()
for t in "${templates[@]}"; do files+=(--file "$t"); done
rc=0
env -u BC_API_KEY -u PRISMA_API_URL -u CKV_CHECK -u CKV_SKIP_CHECK \
  BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true \
  "$root/.tools/checkov-venv/bin/checkov" "${files[@]}" --framework cloudformation --compact \
  --skip-download --skip-results-upload --output json --output-file-path "$out" \
  >"$out/stdout" 2>"$out/stderr" || rc=$?
if (( rc > 1 )) || [[ ! -f $out/results_json.json ]]; then
  cat "$out/stderr" >&2
  echo "==> checkov could not run (exit $rc); see its messages above" >&2
  exit 1
fi
rc=0
"$ckv_python" - "$out/results_json.json" <<'PY' || rc=$?
import json, sys

data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
failed, skipped, bad, passed, resources, parse_errors = [], [], [], 0, 0, 0
for r in reports:
    s = r.get("summary", {})
    passed += s.get("passed", 0)
    resources += s.get("resource_count", 0)
    parse_errors += s.get("parsing_errors", 0)
    res = r.get("results", {})
    failed += res.get("failed_checks", [])
    for c in res.get("skipped_checks", []):
        reason = (c.get("check_result", {}).get("suppress_comment") or "").strip()
        (skipped if reason and reason != "No comment provided" else bad).append((c, reason))

def where(c):
    lines = c.get("file_line_range") or ["?", "?"]
    return f'{c["resource"]} ({c.get("file_abs_path") or c.get("file_path")}:{lines[0]}-{lines[1]})'

for c in failed:
    print(f'FAILED   {c["check_id"]}  {where(c)}\n         {c["check_name"]}')
for c, _ in bad:
    print(f'NO REASON  {c["check_id"]}  {where(c)}: suppressed without a "comment"\n         {c["check_name"]}')
if skipped:
    print(f"Inline suppressions ({len(skipped)}):")
    many = len({c.get("file_abs_path") for c, _ in skipped}) > 1
    for c, reason in skipped:
        name = f'{c["resource"]} ({c.get("file_abs_path")})' if many else c["resource"]
        print(f'  skipped  {c["check_id"]}  {name}: {reason}')
print(f"==> checkov: {passed} passed, {len(failed)} failed, {len(skipped) + len(bad)} skipped "
      f"({resources} resources, {parse_errors} parsing errors)")
problems = []
if parse_errors:
    problems.append("checkov could not parse a template (cfn-lint passed it?); check it is valid JSON")
if not resources and not parse_errors:
    problems.append("checkov found no CloudFormation resources to check: is this a CloudFormation template?")
if failed:
    problems.append("fix the resource, or if the check truly does not apply, add an inline suppression "
                    'with its reason in the generator (ops/infra-template): on the resource, '
                    '"Metadata": {"checkov": {"skip": [{"id": "CKV_...", "comment": "why it does not apply"}]}}; '
                    "then regenerate with `cargo run -p infra-template` and rerun")
if bad:
    problems.append('give each suppression marked NO REASON a non-empty "comment" saying why the check does '
                    "not apply (in ops/infra-template), then regenerate with `cargo run -p infra-template` and rerun")
for p in problems:
    print(f"==> checkov FAILED: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
if (( rc )); then
  [[ -s $out/stderr ]] && { echo "--- checkov messages:" >&2; cat "$out/stderr" >&2; }
  exit 1
fi
echo "==> Infra lint passed: cfn-lint 0 errors, checkov 0 failed checks (every skip has a reason)"
