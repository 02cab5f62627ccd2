"""Validates a CloudFormation template against AWS's own resource type schemas.

cfn-lint stops at the first `oneOf` whose branches it cannot tell apart, so a property such as
`AWS::BedrockAgentCore::GatewayTarget`'s `ToolSchema` (S3 | InlinePayload) was never looked
inside. This checker validates every resource's `Properties` against the full registry schema
that ships with the pinned cfn-lint (`cfnlint/data/schemas`: the CloudFormation registry's
provider schemas), with every nested definition, every `oneOf`/`anyOf` branch and every
`additionalProperties: false` enforced, and checks the things around the schema that
CloudFormation itself refuses or that make a first deployment fail:

- every `Fn::GetAtt` names a read-only attribute of its resource type;
- every `Ref`/`Fn::GetAtt`/`DependsOn` names something the template defines;
- `DeletionPolicy`/`UpdateReplacePolicy` hold values CloudFormation accepts, and no resource is
  kept when its stack's *creation* fails (`Retain` instead of `RetainExceptOnCreate`): a kept
  resource with a fixed name makes the retry fail with "already exists".

Intrinsic functions are resolved where the template alone decides their value (parameters'
defaults, pseudo parameters, `Fn::Sub`/`Fn::Join` over those, `Fn::If` under every combination of
the template's conditions); what only exists at deploy time (a resource's id or attribute) is an
opaque placeholder that satisfies scalar constraints and is counted in the summary.

Usage: python scripts/conformance/cfn_registry.py [--region R] [--json] TEMPLATE
Exit status: 0 no findings, 1 findings, 2 could not run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from finding import Finding

try:
    import cfnlint
    # Registry patterns use Unicode classes (\p{L}) that only the `regex` module knows.
    import regex
    import jsonschema
    from jsonschema import validators
except ImportError as e:  # pragma: no cover - depends on the environment
    sys.exit(f"error: {e}; run this with .tools/venv/bin/python (scripts/install-standins.sh installs it)")

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "tenantry",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/tenantry/00000000-0000-0000-0000-000000000000",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [],
}

# DeletionPolicy values CloudFormation accepts; Snapshot only on the types that support it.
DELETION_POLICIES = {"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"}
# Properties that make a resource refuse deletion (by type), and the value that turns it on.
DELETION_PROTECTION = {
    "AWS::DynamoDB::Table": ("DeletionProtectionEnabled", True),
    "AWS::Cognito::UserPool": ("DeletionProtection", "ACTIVE"),
    "AWS::RDS::DBInstance": ("DeletionProtection", True),
    "AWS::RDS::DBCluster": ("DeletionProtection", True),
    "AWS::Logs::LogGroup": ("DeletionProtectionEnabled", True),
}
UPDATE_REPLACE_POLICIES = {"Delete", "Retain", "Snapshot"}


class Opaque:
    """A value CloudFormation only knows at deploy time (a resource's id or attribute).

    `kind` is the JSON type it will have ("string", "array", ... or "any").
    """

    def __init__(self, kind: str, origin: str):
        self.kind = kind
        self.origin = origin

    def __repr__(self) -> str:
        return f"<{self.origin}>"


class _NoValue:
    """`Ref: AWS::NoValue`: the key (or list item) is removed."""


NO_VALUE = _NoValue()


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    resources: int = 0
    variants: int = 0
    opaque_values: int = 0
    schema_date: str = ""


def schema_dir() -> Path:
    return Path(cfnlint.__file__).parent / "data" / "schemas"


class Registry:
    """The registry schemas that ship with cfn-lint, by resource type."""

    def __init__(self, region: str = "us-east-1"):
        base = schema_dir()
        self.index = json.loads((base / "providers" / f"{region}.json").read_text())
        self.base = base
        self.cache: dict[str, dict] = {}
        try:
            self.date = json.loads((base / "version.json").read_text()).get("schema_date", "")
        except OSError:
            self.date = ""

    def schema(self, type_name: str) -> dict | None:
        if type_name in self.cache:
            return self.cache[type_name]
        ref = self.index.get(type_name)
        if ref is None:
            return None
        path = self.base / "resources" / f"{ref}.json" if isinstance(ref, str) else None
        schema = json.loads(path.read_text()) if path else ref
        self.cache[type_name] = schema
        return schema


# --- validation with opaque values ------------------------------------------------------------

def _is_number_text(v: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", v) is not None


def _type_check(kind: str):
    # CloudFormation converts "5" and "true" for number and boolean properties; placeholders
    # take the type they will have at deploy time.
    def check(_checker, instance):
        if isinstance(instance, Opaque):
            return instance.kind in ("any", kind) or (
                instance.kind == "string" and kind in ("number", "integer", "boolean"))
        if kind == "object":
            return isinstance(instance, dict)
        if kind == "array":
            return isinstance(instance, list)
        if kind == "string":
            return isinstance(instance, str)
        if kind == "boolean":
            return isinstance(instance, bool) or instance in ("true", "false")
        if kind == "integer":
            if isinstance(instance, bool):
                return False
            if isinstance(instance, int):
                return True
            if isinstance(instance, float):
                return instance.is_integer()
            return isinstance(instance, str) and re.fullmatch(r"-?\d+", instance) is not None
        if kind == "number":
            if isinstance(instance, bool):
                return False
            return isinstance(instance, (int, float)) or (isinstance(instance, str) and _is_number_text(instance))
        if kind == "null":
            return instance is None
        return False

    return check


def _numeric(instance):
    if isinstance(instance, str) and _is_number_text(instance):
        return float(instance)
    return instance


def _make_validator_class():
    base = validators.Draft7Validator
    checker = base.TYPE_CHECKER
    for kind in ("object", "array", "string", "boolean", "integer", "number", "null"):
        checker = checker.redefine(kind, _type_check(kind))

    def skip_opaque(fn, numeric=False):
        def wrapped(validator, value, instance, schema):
            if isinstance(instance, Opaque):
                return
            if numeric:
                instance = _numeric(instance)
                if isinstance(instance, str):
                    return
            yield from fn(validator, value, instance, schema)

        return wrapped

    numeric = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
    keyword_validators = {}
    for keyword, fn in base.VALIDATORS.items():
        if keyword in ("type", "$ref", "oneOf", "anyOf", "allOf", "not", "if"):
            keyword_validators[keyword] = fn
        else:
            keyword_validators[keyword] = skip_opaque(fn, numeric=keyword in numeric)

    def pattern(validator, value, instance, schema):
        # Registry patterns are ECMA-262 regular expressions searched in the value, as
        # JSON Schema defines; CloudFormation's handlers anchor them where the schema says so.
        if isinstance(instance, str) and not regex.search(value, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {value!r}")

    def pattern_properties(validator, value, instance, schema):
        if not isinstance(instance, dict):
            return
        for expr, subschema in value.items():
            for key, item in instance.items():
                if regex.search(expr, key):
                    yield from validator.descend(item, subschema, path=key, schema_path=expr)

    def additional_properties(validator, value, instance, schema):
        if not isinstance(instance, dict):
            return
        known = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = [k for k in instance if k not in known and not any(regex.search(p, k) for p in patterns)]
        if value is False and extras:
            yield jsonschema.ValidationError(
                f"unknown key(s) {', '.join(sorted(extras))}; allowed: {', '.join(sorted(known)) or 'none'}")
        elif isinstance(value, dict):
            for k in extras:
                yield from validator.descend(instance[k], value, path=k)

    keyword_validators["pattern"] = skip_opaque(pattern)
    keyword_validators["patternProperties"] = skip_opaque(pattern_properties)
    keyword_validators["additionalProperties"] = skip_opaque(additional_properties)
    # `format` in registry schemas names CloudFormation types ("AWS::IAM::Role.Arn"): informative.
    keyword_validators["format"] = lambda *_: iter(())
    return validators.create(
        meta_schema=base.META_SCHEMA,
        validators=keyword_validators,
        type_checker=checker,
        version="cfn-registry",
    )


RegistryValidator = _make_validator_class()


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_text(error: jsonschema.ValidationError) -> str:
    """Where and why; for a oneOf/anyOf, the reason of the branch that came closest."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        # The branch that got furthest into the value is the one that was meant.
        error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    path = "/".join(str(p) for p in error.absolute_path) or "(Properties)"
    return f"{path}: {_short(error.message)}"


# --- intrinsic functions ------------------------------------------------------------------------

class Resolver:
    def __init__(self, template: dict, registry: Registry, report: Report, conditions: dict[str, bool]):
        self.template = template
        self.registry = registry
        self.report = report
        self.conditions = conditions
        self.parameters = template.get("Parameters", {})
        self.resources = template.get("Resources", {})

    def finding(self, where: str, rule: str, message: str):
        self.report.findings.append(Finding(where, rule, message))

    def opaque(self, kind: str, origin: str) -> Opaque:
        self.report.opaque_values += 1
        return Opaque(kind, origin)

    def parameter(self, name: str):
        p = self.parameters[name]
        default = p.get("Default")
        kind = p.get("Type", "String")
        if default is None:
            return self.opaque("array" if "List" in kind else "string", f"parameter {name}")
        if kind == "Number":
            return float(default) if "." in str(default) else int(default)
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return [s.strip() for s in str(default).split(",")] if isinstance(default, str) else default
        return str(default)

    def ref(self, where: str, name):
        if not isinstance(name, str):
            self.finding(where, "intrinsic", f"Ref takes a name, not {name!r}")
            return self.opaque("any", "bad Ref")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameter(name)
        if name in self.resources:
            return self.opaque("string", f"Ref {name}")
        self.finding(where, "reference", f"Ref to {name}, which the template does not define")
        return self.opaque("any", f"Ref {name}")

    def get_att(self, where: str, args):
        if isinstance(args, str):
            args = args.split(".", 1)
        if not (isinstance(args, list) and len(args) == 2 and all(isinstance(a, str) for a in args)):
            self.finding(where, "intrinsic", f"Fn::GetAtt takes [resource, attribute], not {args!r}")
            return self.opaque("any", "bad GetAtt")
        resource, attribute = args
        target = self.resources.get(resource)
        if target is None:
            self.finding(where, "reference", f"Fn::GetAtt of {resource}, which the template does not define")
            return self.opaque("any", f"GetAtt {resource}")
        type_name = target.get("Type", "")
        schema = self.registry.schema(type_name)
        if schema is None:
            return self.opaque("any", f"GetAtt {resource}.{attribute}")
        pointer = "/properties/" + attribute.replace(".", "/")
        read_only = schema.get("readOnlyProperties", [])
        if pointer not in read_only:
            self.finding(where, "getatt",
                         f"Fn::GetAtt {resource}.{attribute}: {type_name} has no read-only attribute "
                         f"{attribute} (it has: {', '.join(p.rsplit('/', 1)[-1] for p in read_only) or 'none'})")
            return self.opaque("any", f"GetAtt {resource}.{attribute}")
        node = schema
        for part in attribute.split("."):
            node = self.deref(schema, node).get("properties", {}).get(part, {})
        node = self.deref(schema, node)
        kind = node.get("type", "any")
        return self.opaque(kind if isinstance(kind, str) else "any", f"GetAtt {resource}.{attribute}")

    @staticmethod
    def deref(schema: dict, node: dict) -> dict:
        while isinstance(node, dict) and "$ref" in node:
            parts = node["$ref"].lstrip("#/").split("/")
            target = schema
            for p in parts:
                target = target.get(p, {})
            node = target
        return node

    def sub(self, where: str, args):
        if isinstance(args, str):
            text, variables = args, {}
        elif isinstance(args, list) and len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], dict):
            text, variables = args[0], {k: self.resolve(where, v) for k, v in args[1].items()}
        else:
            self.finding(where, "intrinsic", f"Fn::Sub takes a string or [string, map], not {args!r}")
            return self.opaque("string", "bad Sub")
        opaque = False

        def replace(m):
            nonlocal opaque
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and name.split(".", 1)[0] in self.resources:
                value = self.get_att(where, name.split(".", 1))
            else:
                value = self.ref(where, name)
            if isinstance(value, Opaque):
                opaque = True
                return "X"
            return str(value)

        result = re.sub(r"\$\{([^}]+)\}", replace, text)
        return self.opaque("string", "Fn::Sub") if opaque else result

    def resolve(self, where: str, value):
        if isinstance(value, list):
            items = [self.resolve(where, v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, args), = value.items()
            if key == "Ref":
                return self.ref(where, args)
            if key == "Fn::GetAtt":
                return self.get_att(where, args)
            if key == "Fn::Sub":
                return self.sub(where, args)
            if key == "Fn::Join":
                if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str)):
                    self.finding(where, "intrinsic", f"Fn::Join takes [separator, list], not {args!r}")
                    return self.opaque("string", "bad Join")
                parts = self.resolve(where, args[1])
                if isinstance(parts, Opaque) or any(isinstance(p, Opaque) for p in parts):
                    return self.opaque("string", "Fn::Join")
                return args[0].join(str(p) for p in parts)
            if key == "Fn::If":
                if not (isinstance(args, list) and len(args) == 3 and args[0] in self.conditions):
                    self.finding(where, "intrinsic", f"Fn::If needs [defined condition, then, else], not {args!r}")
                    return self.opaque("any", "bad If")
                return self.resolve(where, args[1] if self.conditions[args[0]] else args[2])
            if key.startswith("Fn::"):
                return self.opaque("any", key)
        resolved = {k: self.resolve(where, v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


# --- conditions ---------------------------------------------------------------------------------

def condition_variants(template: dict) -> list[dict[str, bool]]:
    """Every combination of the template's conditions (each one true and false)."""
    names = sorted(template.get("Conditions", {}))
    if len(names) > 10:
        # Beyond 1024 combinations: each condition alone flipped from all-true and all-false.
        base_true = {n: True for n in names}
        base_false = {n: False for n in names}
        out = [base_true, base_false]
        for n in names:
            out.append({**base_true, n: False})
            out.append({**base_false, n: True})
        return out
    return [dict(zip(names, values)) for values in itertools.product([True, False], repeat=len(names))] or [{}]


# --- the checks ---------------------------------------------------------------------------------

def check(template: dict, region: str = "us-east-1") -> Report:
    registry = Registry(region)
    report = Report(schema_date=registry.date)
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        report.findings.append(Finding("(template)", "structure", "no Resources"))
        return report
    report.resources = len(resources)
    for name, resource in resources.items():
        policies(name, resource, report)
        for dep in ([resource.get("DependsOn")] if isinstance(resource.get("DependsOn"), str)
                    else resource.get("DependsOn") or []):
            if dep not in resources:
                report.findings.append(Finding(name, "reference", f"DependsOn {dep}, which the template does not define"))
    combos = condition_variants(template)
    found: dict[str, tuple[Finding, list[dict[str, bool]]]] = {}
    # Resources kept except on a failed creation, with deletion protection in every variant.
    always_protected = {n for n, r in resources.items()
                        if r.get("DeletionPolicy") == "RetainExceptOnCreate" and r.get("Type") in DELETION_PROTECTION}
    for conditions in combos:
        report.variants += 1
        variant = Report()
        resolver = Resolver(template, registry, variant, conditions)
        for name, resource in resources.items():
            cond = resource.get("Condition")
            if cond is not None and not conditions.get(cond, True):
                continue
            validate_resource(name, resource, registry, resolver, variant, region)
            if name in always_protected:
                prop, on = DELETION_PROTECTION[resource["Type"]]
                value = resolver.resolve(name, (resource.get("Properties") or {}).get(prop))
                if value != on and value not in (str(on).lower(),):
                    always_protected.discard(name)
        # Outputs may hold GetAtts too.
        for out_name, output in (template.get("Outputs") or {}).items():
            resolver.resolve(f"Outputs.{out_name}", output.get("Value"))
        report.opaque_values = max(report.opaque_values, variant.opaque_values)
        for f in variant.findings:
            found.setdefault(str(f), (f, []))[1].append(conditions)
    for name in sorted(always_protected):
        prop, _ = DELETION_PROTECTION[resources[name]["Type"]]
        report.findings.append(Finding(
            name, "retry",
            f"{prop} is on in every deployment: a failed first creation cannot delete it when it rolls "
            f"back (RetainExceptOnCreate), and the retry fails; let the first creation turn it off"))
    for f, where in found.values():
        if len(where) < len(combos):
            f = Finding(f.where, f.rule, f.message + " (when " + " or ".join(
                ", ".join(f"{k}={v}" for k, v in c.items()) for c in where) + ")")
        report.findings.append(f)
    return report


def validate_resource(name: str, resource: dict, registry: Registry, resolver: Resolver, report: Report, region: str):
    type_name = resource.get("Type", "")
    schema = registry.schema(type_name)
    if schema is None:
        if not type_name.startswith("Custom::"):
            report.findings.append(Finding(name, "type", f"{type_name} is not a resource type of the registry in {region}"))
        return
    properties = resolver.resolve(name, resource.get("Properties", {}))
    for error in sorted(RegistryValidator(schema).iter_errors(properties), key=lambda e: list(e.absolute_path)):
        report.findings.append(Finding(name, "schema", _error_text(error)))
    for given in resource.get("Properties") or {}:
        if f"/properties/{given}" in schema.get("readOnlyProperties", []):
            report.findings.append(Finding(name, "schema", f"{given} is read-only in {type_name}: an output, not an input"))


def policies(name: str, resource: dict, report: Report):
    deletion = resource.get("DeletionPolicy")
    replace = resource.get("UpdateReplacePolicy")
    if deletion is not None and deletion not in DELETION_POLICIES:
        report.findings.append(Finding(name, "policy", f"DeletionPolicy {deletion!r} is not one of {sorted(DELETION_POLICIES)}"))
    if replace is not None and replace not in UPDATE_REPLACE_POLICIES:
        report.findings.append(Finding(name, "policy", f"UpdateReplacePolicy {replace!r} is not one of {sorted(UPDATE_REPLACE_POLICIES)}"))
    if deletion == "Retain":
        report.findings.append(Finding(
            name, "retry",
            "DeletionPolicy Retain keeps the resource when the stack's creation rolls back, and the "
            "retry then fails (\"already exists\" for a fixed name, an orphan otherwise): use "
            "RetainExceptOnCreate"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template")
    parser.add_argument("--region", default="us-east-1", help="the registry of this Region (default us-east-1)")
    parser.add_argument("--json", action="store_true", help="findings as JSON lines")
    args = parser.parse_args(argv)
    try:
        template = json.loads(Path(args.template).read_text())
    except (OSError, ValueError) as e:
        print(f"error: cannot read {args.template}: {e}", file=sys.stderr)
        return 2
    report = check(template, args.region)
    for f in report.findings:
        print(json.dumps(f.__dict__) if args.json else f"  {f}")
    print(f"==> CloudFormation registry schemas (cfn-lint {cfnlint.version.__version__}, schemas of "
          f"{report.schema_date or 'unknown date'}, {args.region}): {report.resources} resources, "
          f"{report.variants} condition combination(s), {report.opaque_values} deploy-time values as "
          f"placeholders: {len(report.findings)} finding(s)")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
