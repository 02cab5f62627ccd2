"""scripts/bedrock-projects.sh against a stand-in `aws` CLI that checks every Bedrock call it is
given against botocore's own model of the Bedrock control plane (the pinned botocore).

The stand-in is a local test double, not AWS: it answers from a scenario, records each call, and
refuses a call whose operation, parameter or enum value the model does not have, as the real CLI
would. What the tests show: a new project is created with the tier file's data retention mode, a
project found with another mode (or none: `inherit`) is set to it, one that has it is left alone,
and a failed update stops the run instead of leaving the tier's model calls under another mode.

Run by scripts/check-aws-conformance.sh (part of scripts/test.sh).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIERS = json.loads((ROOT / "infra/tiers.json").read_text())["tiers"]

# The stand-in CLI. It runs under this interpreter (the project venv, which holds botocore).
FAKE_AWS = textwrap.dedent(
    r'''
    import json, os, sys
    from botocore.loaders import Loader

    args = sys.argv[1:]
    scenario = json.loads(os.environ["FAKE_AWS_SCENARIO"])
    with open(os.environ["FAKE_AWS_LOG"], "a") as log:
        log.write(json.dumps(args) + "\n")
    if args == ["--version"]:
        print("aws-cli/2.31.0 Python/3.11 stand-in")
        sys.exit(0)
    # Drop the global options the script passes.
    rest, i = [], 0
    while i < len(args):
        if args[i] in ("--output", "--region", "--profile"):
            i += 2
            continue
        rest.append(args[i])
        i += 1
    service, command, params = rest[0], rest[1], rest[2:]
    if "--generate-cli-skeleton" in params:
        sys.exit(0)

    def camel(flag):
        head, *tail = flag[2:].split("-")
        return head + "".join(t.capitalize() for t in tail)

    if service == "bedrock":
        model = Loader().load_service_model("bedrock", "service-2")
        operation = "".join(p.capitalize() for p in command.split("-"))
        if operation not in model["operations"]:
            print(f"stand-in: {command} is not an operation of botocore's bedrock model", file=sys.stderr)
            sys.exit(252)
        shape = model["shapes"][model["operations"][operation]["input"]["shape"]]
        j = 0
        while j < len(params):
            member = camel(params[j])
            if member not in shape["members"]:
                print(f"stand-in: {operation} has no member {member}", file=sys.stderr)
                sys.exit(252)
            if member == "dataRetention":
                value = json.loads(params[j + 1])
                mode_shape = model["shapes"][model["shapes"]["ProjectDataRetention"]["members"]["mode"]["shape"]]
                if set(value) != {"mode"} or value["mode"] not in mode_shape["enum"]:
                    print(f"stand-in: dataRetention {value} is not a ProjectDataRetention", file=sys.stderr)
                    sys.exit(252)
            j += 2
    if (service, command) == ("sts", "get-caller-identity"):
        print(json.dumps({"Account": "123456789012"}))
    elif (service, command) == ("bedrock", "list-projects"):
        print(json.dumps({"projectSummaries": scenario["projects"]}))
    elif (service, command) == ("bedrock", "create-project"):
        name = params[params.index("--name") + 1]
        print(json.dumps({"id": "proj_" + name.replace("-", "")[:20].ljust(20, "a"), "arn": "arn:aws:bedrock:us-east-1:123456789012:project/x"}))
    elif (service, command) == ("bedrock", "get-project"):
        body = {"id": params[params.index("--project-identifier") + 1]}
        if scenario.get("mode"):
            body["dataRetention"] = {"mode": scenario["mode"]}
        print(json.dumps(body))
    elif (service, command) == ("bedrock", "update-project"):
        if scenario.get("update_fails"):
            print("An error occurred (AccessDeniedException) when calling the UpdateProject operation", file=sys.stderr)
            sys.exit(254)
        print("{}")
    elif (service, command) == ("ssm", "get-parameter"):
        print("An error occurred (ParameterNotFound) when calling the GetParameter operation", file=sys.stderr)
        sys.exit(254)
    else:
        print("{}")
    '''
)


class BedrockProjects(unittest.TestCase):
    def run_script(self, scenario: dict) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
        with tempfile.TemporaryDirectory() as tmp:
            bin_dir = Path(tmp) / "bin"
            bin_dir.mkdir()
            (Path(tmp) / "fake_aws.py").write_text(FAKE_AWS)
            aws = bin_dir / "aws"
            aws.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{tmp}/fake_aws.py" "$@"\n')
            aws.chmod(0o755)
            log = Path(tmp) / "calls.jsonl"
            log.touch()
            env = dict(os.environ)
            env.update(
                PATH=f"{bin_dir}:{env['PATH']}",
                FAKE_AWS_SCENARIO=json.dumps(scenario),
                FAKE_AWS_LOG=str(log),
                AWS_REGION="us-east-1",
            )
            result = subprocess.run(
                [str(ROOT / "scripts/bedrock-projects.sh")],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            calls = [json.loads(line) for line in log.read_text().splitlines()]
        return result, calls

    def calls_to(self, calls: list[list[str]], command: str) -> list[list[str]]:
        return [c for c in calls if command in c and "--generate-cli-skeleton" not in c]

    def expected_retention(self, call: list[str]) -> dict:
        return json.loads(call[call.index("--data-retention") + 1])

    def test_new_projects_are_created_with_the_tier_files_retention(self):
        result, calls = self.run_script({"projects": [], "mode": "none"})
        self.assertEqual(result.returncode, 0, result.stderr)
        created = self.calls_to(calls, "create-project")
        self.assertEqual(len(created), len(TIERS))
        for call in created:
            name = call[call.index("--name") + 1]
            tier = next(t for t, c in TIERS.items() if c["bedrock_project"]["name"] == name)
            self.assertEqual(self.expected_retention(call), {"mode": TIERS[tier]["bedrock_project"]["data_retention"]})
        self.assertEqual(self.calls_to(calls, "update-project"), [], "created with the mode: nothing to update")

    def existing(self) -> list[dict]:
        return [
            {"id": f"proj_{tier[:4].ljust(20, 'b')}", "name": c["bedrock_project"]["name"], "status": "active", "arn": f"arn:aws:bedrock:us-east-1:123456789012:project/{tier}"}
            for tier, c in TIERS.items()
        ]

    def test_an_existing_project_without_the_mode_is_set_to_it(self):
        for found in (None, "inherit", "provider_data_share"):
            with self.subTest(found=found):
                result, calls = self.run_script({"projects": self.existing(), "mode": found})
                self.assertEqual(result.returncode, 0, result.stderr)
                updated = self.calls_to(calls, "update-project")
                self.assertEqual(len(updated), len(TIERS))
                for call in updated:
                    self.assertEqual(self.expected_retention(call), {"mode": "none"})
                self.assertIn(f"has data retention '{found or 'inherit'}'; setting 'none'", result.stdout)

    def test_a_project_that_has_the_mode_is_left_alone(self):
        result, calls = self.run_script({"projects": self.existing(), "mode": "none"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls_to(calls, "update-project"), [])
        self.assertEqual(self.calls_to(calls, "create-project"), [])

    def test_a_failed_update_stops_the_run(self):
        result, calls = self.run_script({"projects": self.existing(), "mode": "inherit", "update_fails": True})
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("setting data retention 'none'", result.stderr)
        self.assertEqual(self.calls_to(calls, "put-parameter"), [], "no project id is published under the wrong mode")

    def test_the_stand_in_refuses_what_botocore_does_not_know(self):
        # The check is real: a mode outside the model's enum, or an unknown member, is refused.
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "fake_aws.py"
            script.write_text(FAKE_AWS)
            env = dict(os.environ, FAKE_AWS_SCENARIO="{}", FAKE_AWS_LOG=str(Path(tmp) / "log"))
            for bad in (
                ["bedrock", "create-project", "--name", "x", "--data-retention", '{"mode":"forever"}'],
                ["bedrock", "create-project", "--name", "x", "--retention", '{"mode":"none"}'],
                ["bedrock", "set-project-retention", "--name", "x"],
            ):
                done = subprocess.run([sys.executable, str(script), *bad], capture_output=True, text=True, env=env)
                self.assertEqual(done.returncode, 252, bad)


if __name__ == "__main__":
    unittest.main()
