"""Reads infra/template.json for the deployment scripts, so they never keep their own copy of
what the stack contains: resource names, the functions and what the stack keeps on deletion.

Usage: python3 scripts/lib/template.py PREFIX REGION ACCOUNT COMMAND
  list              every resource: type, logical id, resolved name, and whether it is kept
  functions         one line per function: <crate>:<logical stem> (stem of <Stem>CodeKey)
  function-name STEM  the resolved name of the function <STEM>Function
  kept TYPE         resolved names of the resources of TYPE kept on stack deletion
"""
import json
import re
import sys

NAME_KEYS = ["FunctionName", "TableName", "BucketName", "UserPoolName", "ClientName", "Name",
             "AgentRuntimeName", "RoleName", "LogGroupName", "UsagePlanName", "AliasName",
             "VectorBucketName", "IndexName", "StageName"]


def main(template_path, prefix, region, account, command, *args):
    template = json.load(open(template_path))
    known = {"NamePrefix": prefix, "AWS::Region": region, "AWS::AccountId": account,
             "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "StageName": "v1"}

    def resolve(v):
        if isinstance(v, str):
            return v
        if isinstance(v, dict) and isinstance(v.get("Fn::Sub"), str):
            return re.sub(r"\$\{([^}!]+)\}", lambda m: known.get(m.group(1), f"<{m.group(1)}>"), v["Fn::Sub"])
        if isinstance(v, dict) and "Fn::Join" in v:
            sep, parts = v["Fn::Join"]
            return sep.join(resolve(p) or "?" for p in parts)
        return None

    def name_of(resource):
        props = resource.get("Properties", {})
        return next((resolve(props[k]) for k in NAME_KEYS if k in props and resolve(props[k])), None)

    resources = template["Resources"]
    # What the stack keeps when it is deleted (RetainExceptOnCreate: kept unless its own
    # creation failed).
    kept_policies = ("Retain", "RetainExceptOnCreate")
    if command == "list":
        for logical, r in sorted(resources.items(), key=lambda kv: kv[1]["Type"]):
            kept = "  [kept on stack deletion]" if r.get("DeletionPolicy") in kept_policies else ""
            print(f"    {r['Type']:40} {logical:36} {name_of(r) or ''}{kept}")
        print(f"    ({len(resources)} resources)")
    elif command == "functions":
        for logical, r in resources.items():
            if r["Type"] == "AWS::Lambda::Function":
                # The crate it is built from (two functions may share one: the TVM).
                crate = r["Metadata"]["BuildCrate"]
                print(f"{crate}:{logical.removesuffix('Function')}")
    elif command == "function-name":
        (stem,) = args
        print(name_of(resources[f"{stem}Function"]))
    elif command == "kept":
        (kind,) = args
        for r in resources.values():
            if r["Type"] == kind and r.get("DeletionPolicy") in kept_policies:
                print(name_of(r))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main("infra/template.json", *sys.argv[1:])
