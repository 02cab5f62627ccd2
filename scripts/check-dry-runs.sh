#!/usr/bin/env bash
# Checks the deployment scripts offline: `scripts/deploy.sh --dry-run`, `deploy.sh --preflight
# --dry-run`, `scripts/verify-deployment.sh --dry-run` and `scripts/cleanup.sh --dry-run
# --purge-data` exit 0 without AWS; the deploy plan names every resource of infra/template.json,
# onboards every tenant of the tenant file, deploys the agent image by digest (a tag is refused)
# and creates everything a component reads at start-up before the stack that holds it
# (scripts/conformance/create_order.py); the cleanup plan offboards every tenant and removes the
# image repository. Part of scripts/test.sh. Usage: scripts/check-dry-runs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Credentials and endpoint that lead nowhere: a dry run that called AWS would fail here.
export AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_ACCESS_KEY_ID=none AWS_SECRET_ACCESS_KEY=none
scripts/deploy.sh --dry-run > "$out/deploy.txt" || { cat "$out/deploy.txt"; echo "error: scripts/deploy.sh --dry-run failed" >&2; exit 1; }
scripts/cleanup.sh --dry-run --purge-data > "$out/cleanup.txt" || { cat "$out/cleanup.txt"; echo "error: scripts/cleanup.sh --dry-run failed" >&2; exit 1; }
scripts/deploy.sh --preflight --dry-run > "$out/preflight.txt" || { cat "$out/preflight.txt"; echo "error: scripts/deploy.sh --preflight --dry-run failed" >&2; exit 1; }
scripts/verify-deployment.sh --dry-run > "$out/verify.txt" || { cat "$out/verify.txt"; echo "error: scripts/verify-deployment.sh --dry-run failed" >&2; exit 1; }
# Nothing a component reads when it starts is created after it (the plan's `creates:` lines).
python3 scripts/conformance/create_order.py infra/template.json "$out/deploy.txt"
# An image named by a tag (which can be moved to another image) is refused before anything runs.
if scripts/deploy.sh --dry-run --runtime-image 123456789012.dkr.ecr.us-east-1.amazonaws.com/agent:latest > "$out/tag.txt" 2>&1; then
  echo "error: scripts/deploy.sh accepted an agent image named by a tag" >&2; exit 1
fi
python3 - "$out/deploy.txt" "$out/cleanup.txt" "$out/preflight.txt" "$out/verify.txt" << 'PY'
import json, re, sys
deploy, cleanup = (open(p).read() for p in sys.argv[1:3])
template = json.load(open("infra/template.json"))
tenants = [c["clinic_id"] for c in json.load(open("infra/demo-tenants.json"))["clinics"]]
problems = []
for logical, resource in template["Resources"].items():
    if not re.search(rf"^\s+{re.escape(resource['Type'])}\s+{re.escape(logical)}\b", deploy, re.M):
        problems.append(f"deploy --dry-run does not list {resource['Type']} {logical}")
for tier in json.load(open("infra/tiers.json"))["tiers"]:
    group = f"/aws/bedrock-agentcore/runtimes/<{tier} runtime id>-DEFAULT"
    for call in ("associate-kms-key", "put-retention-policy"):
        if not re.search(rf"would run: aws logs {call} --log-group-name '{re.escape(group)}'", deploy):
            problems.append(f"deploy --dry-run does not {call} on the {tier} runtime's log group")
for logical, resource in template["Resources"].items():
    if resource["Type"] == "AWS::Lambda::Function":
        stem = logical.removesuffix("Function")
        if f"{stem}CodeVersion=" not in deploy:
            problems.append(f"deploy --dry-run does not pin {logical}'s package by object version")
edge = json.load(open("infra/edge-template.json"))
if "cloudformation deploy --template-file infra/edge-template.json" not in deploy or "--region us-east-1" not in deploy:
    problems.append("deploy --dry-run does not deploy the edge stack (infra/edge-template.json) in us-east-1")
elif deploy.index("infra/edge-template.json --stack-name") > deploy.index("--template-file infra/template.json"):
    problems.append("deploy --dry-run deploys the regional stack before the edge stack whose web ACL it names")
for needed in ("EdgeWebAclArn=", "OriginVerifySecret="):
    if needed not in deploy:
        problems.append(f"deploy --dry-run does not pass {needed[:-1]} to the regional stack")
# Every resource the stack keeps on deletion is named by the purge plan.
for logical, resource in template["Resources"].items():
    if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate") and resource["Type"] in (
            "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Logs::LogGroup"):
        props = resource["Properties"]
        name = next((props[k] for k in ("TableName", "BucketName", "LogGroupName") if k in props), None)
        text = name.get("Fn::Sub") if isinstance(name, dict) else name
        if not isinstance(text, str):
            continue
        resolved = re.sub(r"\$\{([^}]+)\}", lambda m: {"NamePrefix": "tenantry", "AWS::AccountId": "<account>", "AWS::Region": "<region>"}.get(m.group(1), "<" + m.group(1) + ">"), text)
        if resolved not in cleanup:
            problems.append(f"cleanup --dry-run --purge-data does not purge {logical} ({resolved})")
if "delete-stack --stack-name tenantry-edge" not in cleanup:
    problems.append("cleanup --dry-run does not remove the edge stack")
if "--query CodeSha256" not in deploy:
    problems.append("deploy --dry-run does not check the functions' code hashes after the stack")
for clinic in tenants:
    if f"onboard {clinic} (" not in deploy:
        problems.append(f"deploy --dry-run does not onboard {clinic}")
    if f"offboard {clinic} (" not in cleanup:
        problems.append(f"cleanup --dry-run does not offboard {clinic}")
if not re.search(r"the runtimes run \S+@sha256:", deploy):
    problems.append("deploy --dry-run does not deploy the agent image by digest")
if "would delete the ECR repository" not in cleanup:
    problems.append("cleanup --dry-run does not delete the agent image repository")
for text, name in ((deploy, "deploy"), (cleanup, "cleanup")):
    if "Dry run complete" not in text:
        problems.append(f"{name} --dry-run did not finish")
preflight, verify = (open(p).read() for p in sys.argv[3:5])
for needed in ("credentials", "AgentCore Runtime", "AgentCore Gateway", "AgentCore Memory", "AgentCore Policy",
               "S3 Vectors", "Mantle endpoint", "Lambda concurrent executions"):
    if needed not in preflight:
        problems.append(f"deploy --preflight --dry-run does not check {needed}")
for tier in json.load(open("infra/tiers.json"))["tiers"]:
    if f"model of tier {tier}" not in preflight:
        problems.append(f"deploy --preflight --dry-run does not check the model of tier {tier}")
for needed in ("headers reach the Lambda target", "Accept reaches the runtime", "Mantle route", "OpenAI-Project",
               "Cedar policies", "AccessDenied", "premium Gateway", "session id", "suspension", "cleanup"):
    if needed not in verify:
        problems.append(f"verify-deployment --dry-run does not plan {needed!r}")
if problems:
    print("\n".join("error: " + p for p in problems), file=sys.stderr)
    sys.exit(1)
print(f"==> Dry runs: deploy lists all {len(template['Resources'])} resources and onboards all {len(tenants)} tenants; cleanup offboards them; preflight and verify-deployment plan every check")
PY
