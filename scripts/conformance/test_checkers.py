"""Each conformance check, shown to fail on the defect it guards and to pass on the stack as it is.

Run by scripts/test.sh: .tools/venv/bin/python -m unittest discover -s scripts/conformance
The mutations are the defects a review against AWS's definitions found before the first
deployment (lower-case tool schema keys, Retain on creation, a trust policy conditioned on a
key AWS ignores there, a start-up parameter created after its reader), and neighbours of them.
"""

from __future__ import annotations

import copy
import json
import unittest
from pathlib import Path

import cfn_registry
import create_order
import iam_reference

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = json.loads((ROOT / "infra/template.json").read_text())
TOOL_SCHEMA = json.loads((ROOT / "infra/gateway/tool-target-schema.json").read_text())


def mutated(change) -> dict:
    t = copy.deepcopy(TEMPLATE)
    change(t)
    return t


def resources_of(t: dict, type_name: str) -> list[dict]:
    return [r for r in t["Resources"].values() if r["Type"] == type_name]


class CloudFormationRegistry(unittest.TestCase):
    def findings(self, template: dict, rule: str | None = None) -> list[str]:
        return [str(f) for f in cfn_registry.check(template).findings if rule is None or f.rule == rule]

    def test_the_stack_validates_with_no_finding(self):
        self.assertEqual(self.findings(TEMPLATE), [])

    def test_the_api_shaped_tool_schema_is_refused(self):
        def api_keys(t):
            for target in resources_of(t, "AWS::BedrockAgentCore::GatewayTarget"):
                target["Properties"]["TargetConfiguration"]["Mcp"]["Lambda"]["ToolSchema"]["InlinePayload"] = TOOL_SCHEMA
        found = self.findings(mutated(api_keys), "schema")
        self.assertTrue(found and all("InlinePayload" in f and "inputSchema" in f for f in found), found)

    def test_a_keyword_inside_a_oneof_branch_is_refused(self):
        def enum(t):
            target = resources_of(t, "AWS::BedrockAgentCore::GatewayTarget")[0]
            tool = target["Properties"]["TargetConfiguration"]["Mcp"]["Lambda"]["ToolSchema"]["InlinePayload"][0]
            tool["InputSchema"]["Properties"]["limit"]["Minimum"] = 1
        self.assertTrue(any("Minimum" in f for f in self.findings(mutated(enum), "schema")))

    def test_patterns_enums_and_unknown_properties_are_refused(self):
        def broken(t):
            gw = resources_of(t, "AWS::BedrockAgentCore::Gateway")[0]["Properties"]
            gw["Name"] = "has spaces"
            gw["ProtocolConfiguration"]["Mcp"]["Streaming"] = True
            rt = resources_of(t, "AWS::BedrockAgentCore::Runtime")[0]["Properties"]
            rt["NetworkConfiguration"]["NetworkMode"] = "PRIVATE_ISH"
        found = " ".join(self.findings(mutated(broken), "schema"))
        for expected in ("has spaces", "Streaming", "PRIVATE_ISH"):
            self.assertIn(expected, found)

    def test_retain_on_creation_is_refused(self):
        def retain(t):
            t["Resources"]["PatientMetadataTable"]["DeletionPolicy"] = "Retain"
        self.assertEqual(len(self.findings(mutated(retain), "retry")), 1)

    def test_deletion_protection_that_is_always_on_is_refused(self):
        def always(t):
            t["Resources"]["PatientMetadataTable"]["Properties"]["DeletionProtectionEnabled"] = True
            t["Resources"]["UserPool"]["Properties"]["DeletionProtection"] = "ACTIVE"
        found = self.findings(mutated(always), "retry")
        self.assertEqual(len(found), 2, found)

    def test_getatt_must_name_a_read_only_attribute(self):
        def writable(t):
            for rt in resources_of(t, "AWS::BedrockAgentCore::Runtime"):
                rt["Properties"]["EnvironmentVariables"]["TENANTRY_GATEWAY_URL"] = {"Fn::GetAtt": ["BasicGateway", "Name"]}
        self.assertTrue(self.findings(mutated(writable), "getatt"))


class IamReference(unittest.TestCase):
    reference = iam_reference.Reference()

    def findings(self, template: dict, rule: str | None = None) -> list[str]:
        return [str(f) for f in iam_reference.check(template, self.reference) if rule is None or f.rule == rule]

    def test_the_stack_has_no_finding(self):
        self.assertEqual(self.findings(TEMPLATE), [])

    def test_the_old_trust_policy_is_refused(self):
        def pinned_in_trust(t):
            trust = t["Resources"]["TenantDataRole"]["Properties"]["AssumeRolePolicyDocument"]
            trust["Statement"][0]["Condition"]["ArnEquals"] = {"lambda:SourceFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}
        found = self.findings(mutated(pinned_in_trust), "unusable-key")
        self.assertEqual(len(found), 1, found)
        self.assertIn("permissions-source-function-arn", found[0])

    def test_the_pin_is_valid_in_the_vending_roles_own_policy(self):
        role = TEMPLATE["Resources"]["TokenVendingRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        self.assertIn("lambda:SourceFunctionArn", json.dumps(role))

    def test_unknown_actions_are_refused(self):
        def typo(t):
            policy = t["Resources"]["ToolTargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            policy["Statement"][0]["Action"] = ["logs:PutLogEvent"]
        self.assertTrue(self.findings(mutated(typo), "action"))

    def test_an_action_without_resource_types_needs_star(self):
        def scoped(t):
            policy = t["Resources"]["ToolTargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            tracing = next(s for s in policy["Statement"] if s.get("Sid") == "Tracing")
            tracing["Resource"] = ["arn:aws:xray:us-east-1:123456789012:group/x"]
        self.assertTrue(self.findings(mutated(scoped), "resource"))

    def test_a_resource_of_another_service_is_refused(self):
        def wrong(t):
            policy = t["Resources"]["ToolTargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            logs = next(s for s in policy["Statement"] if s.get("Sid") == "OwnLogGroupOnly")
            logs["Resource"] = [{"Fn::GetAtt": ["PatientMetadataTable", "Arn"]}]
        self.assertTrue(self.findings(mutated(wrong), "resource"))

    def test_a_bucket_action_on_objects_is_refused(self):
        def on_objects(t):
            policy = t["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]
            listing = next(s for s in policy["Statement"] if s.get("Sid") == "ListTheDocumentBuckets")
            listing["Resource"] = [{"Fn::Sub": "${BasicDocumentsBucket.Arn}/*"}]
        found = self.findings(mutated(on_objects), "resource")
        self.assertTrue(any("s3:ListBucket" in f for f in found), found)

    def test_a_table_action_on_indexes_alone_is_refused(self):
        def on_indexes(t):
            policy = t["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]
            statement = next(s for s in policy["Statement"] if "dynamodb:GetItem" in s.get("Action", []))
            statement["Action"] = ["dynamodb:GetItem"]
            statement["Resource"] = [{"Fn::Sub": "${PatientMetadataTable.Arn}/index/*"}]
        found = self.findings(mutated(on_indexes), "resource")
        self.assertTrue(any("dynamodb:GetItem" in f for f in found), found)

    def test_a_condition_key_the_action_does_not_have_is_refused(self):
        def foreign(t):
            policy = t["Resources"]["ToolTargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            logs = next(s for s in policy["Statement"] if s.get("Sid") == "OwnLogGroupOnly")
            logs["Condition"] = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["x"]}}
        self.assertTrue(self.findings(mutated(foreign), "key"))


PLAN = """==> 1/3 Signing keys
    creates: ssm-parameter /tenantry/session-key
==> 2/3 Bedrock projects
    creates: ssm-parameter /p/basic
==> 3/3 Stack
    creates: stack tenantry
"""

READER = {"Type": "AWS::BedrockAgentCore::Runtime", "Properties": {}, "Metadata": {"StartupParameters": [
    {"Variable": "TENANTRY_SESSION_KEY_PARAMETER", "Parameter": "/tenantry/session-key", "Required": True},
    {"Variable": "TENANTRY_BEDROCK_PROJECT_PARAMETER", "Parameter": "/p/basic", "Required": False},
]}}


class CreateOrder(unittest.TestCase):
    def test_parameters_made_before_the_stack_pass(self):
        self.assertEqual(create_order.check({"Resources": {"R": READER}}, PLAN), [])

    def test_a_parameter_made_after_the_stack_is_refused(self):
        # The deployment as it was: the projects step after the stack.
        late = PLAN.replace("==> 2/3 Bedrock projects\n    creates: ssm-parameter /p/basic\n", "") + \
            "==> 4/4 Bedrock projects\n    creates: ssm-parameter /p/basic\n"
        found = create_order.check({"Resources": {"R": READER}}, late)
        self.assertEqual(len(found), 1, found)
        self.assertIn("/p/basic", found[0])

    def test_a_required_parameter_nobody_makes_is_refused(self):
        missing = PLAN.replace("    creates: ssm-parameter /tenantry/session-key\n", "")
        found = create_order.check({"Resources": {"R": READER}}, missing)
        self.assertEqual(len(found), 1, found)
        # An optional one may be skipped (deploy.sh --skip-bedrock-projects).
        skipped = PLAN.replace("    creates: ssm-parameter /p/basic\n", "")
        self.assertEqual(create_order.check({"Resources": {"R": READER}}, skipped), [])

    def test_a_template_parameter_needs_a_dependency(self):
        param = {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/tenantry/session-key", "Type": "String", "Value": "x"}}
        plan = PLAN.replace("    creates: ssm-parameter /tenantry/session-key\n", "")
        found = create_order.check({"Resources": {"R": READER, "P": param}}, plan)
        self.assertEqual(len(found), 1, found)
        reader = copy.deepcopy(READER)
        reader["DependsOn"] = "P"
        self.assertEqual(create_order.check({"Resources": {"R": reader, "P": param}}, plan), [])


if __name__ == "__main__":
    unittest.main()
