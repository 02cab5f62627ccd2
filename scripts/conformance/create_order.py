"""Checks that nothing a component needs when it starts is created after it.

The components that run code (Lambda functions, AgentCore Runtimes) record in the template what
they read from SSM at start-up (`Metadata.StartupParameters`: the variable, the parameter name,
and whether the component refuses to start without it; ops/infra-template/src/startup.rs).
The deployment's plan (`scripts/deploy.sh --dry-run`) says, step by step, what each step creates
(`creates: ssm-parameter NAME`, `creates: stack NAME`). A parameter must exist before the stack
that holds its readers is created:

- created by a deployment step: that step comes before the stack's;
- created by the template (an AWS::SSM::Parameter of that name): the reader depends on it
  (DependsOn, Ref or Fn::GetAtt, directly or through other resources);
- created by nobody: an error when the reader requires it.

Usage: python scripts/conformance/create_order.py TEMPLATE DEPLOY_PLAN
Exit status: 0 no findings, 1 findings, 2 could not run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def plan_steps(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(step title, [(kind, name), ...])] in order."""
    steps: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        if m := re.match(r"^==> (\d+/\d+ .*)$", line):
            steps.append((m.group(1), []))
        elif (m := re.match(r"^\s+creates: (\S+) (\S+)$", line)) and steps:
            steps[-1][1].append((m.group(1), m.group(2)))
    return steps


def overrides(text: str) -> dict[str, str]:
    """Template parameters the plan passes to CloudFormation (`Name=value`)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "cloudformation deploy" in line:
            for name, value in re.findall(r"\b([A-Z][A-Za-z0-9]*)=([^\s']+)", line):
                out.setdefault(name, value)
    return out


def references(value, found: set[str]):
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
        for v in value.values():
            references(v, found)
    elif isinstance(value, list):
        for v in value:
            references(v, found)


def depends_on(template: dict, start: str, target: str) -> bool:
    resources = template.get("Resources", {})
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name == target:
            return True
        if name in seen or name not in resources:
            continue
        seen.add(name)
        found: set[str] = set()
        references(resources[name].get("Properties"), found)
        dep = resources[name].get("DependsOn") or []
        found.update([dep] if isinstance(dep, str) else dep)
        todo.extend(found)
    return False


def check(template: dict, plan: str) -> list[str]:
    findings: list[str] = []
    steps = plan_steps(plan)
    stack_step = next((i for i, (_, made) in enumerate(steps) if any(k == "stack" for k, _ in made)), None)
    if stack_step is None:
        return ["the deployment plan creates no stack (no `creates: stack` line): is this a deploy.sh --dry-run?"]
    made_by_step = {name: i for i, (_, made) in enumerate(steps) for kind, name in made if kind == "ssm-parameter"}
    params = template.get("Parameters", {})
    passed = overrides(plan)
    in_template = {r["Properties"].get("Name"): logical
                   for logical, r in template.get("Resources", {}).items()
                   if r.get("Type") == "AWS::SSM::Parameter" and isinstance(r.get("Properties", {}).get("Name"), str)}
    for logical, resource in template.get("Resources", {}).items():
        for need in (resource.get("Metadata") or {}).get("StartupParameters") or []:
            value = need.get("Parameter")
            if isinstance(value, dict) and "Ref" in value:
                ref = value["Ref"]
                value = passed.get(ref, params.get(ref, {}).get("Default"))
            if not isinstance(value, str):
                findings.append(f"{logical}: {need.get('Variable')} names no resolvable parameter ({need.get('Parameter')!r})")
                continue
            what = f"{logical} reads {value} ({need.get('Variable')}) when it starts"
            if value in made_by_step:
                step = made_by_step[value]
                if step > stack_step:
                    findings.append(f"{what}, but step \"{steps[step][0]}\" creates it after step "
                                    f"\"{steps[stack_step][0]}\" creates the stack")
            elif value in in_template:
                if not depends_on(template, logical, in_template[value]):
                    findings.append(f"{what}; the template creates it ({in_template[value]}) but {logical} "
                                    f"does not depend on it, so CloudFormation may create it first")
            elif need.get("Required", True):
                findings.append(f"{what} and does not start without it, but nothing creates it")
    return findings


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        template = json.loads(Path(argv[0]).read_text())
        plan = Path(argv[1]).read_text()
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    findings = check(template, plan)
    for f in findings:
        print(f"  {f}")
    readers = sum(1 for r in template.get("Resources", {}).values()
                  if (r.get("Metadata") or {}).get("StartupParameters"))
    print(f"==> Create order: {readers} components' start-up parameters against "
          f"{len(plan_steps(plan))} deployment steps: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
