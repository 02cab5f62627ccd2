"""The checks of scripts/verify-deployment.sh, run after a deployment.

Onboards three probe clinics of its own (two basic, one premium; test users with generated
passwords and TOTP set up here), then checks, against the live stack:
  - the contracts no offline artifact settles (docs/deploying.md, "Open checks"): the Gateway's
    allow-listed headers reach the Lambda target, the caller's Accept reaches the runtime, each
    tier's model answers on the Mantle route prefix the agent uses, OpenAI-Project is honoured,
    the Cedar policies were accepted;
  - isolation where only IAM can hold it (the stand-ins evaluate no IAM): a clinic's vended
    credentials read its own rows, documents and memory and none of another clinic's; a token of
    one tier is refused by the other tier's Gateway and Runtime; a session of one user is refused
    to another; a suspended clinic is refused at the front door and lets nobody sign in;
and removes what it created (`tenant-admin offboard --purge`: the probes' memory, documents, rows
and users; then their usage rows), leaving the probes' tombstones in the registry.
Prints a table: CHECK, RESULT, WHAT TO DO. Exit status 1 if a check failed.

Run by scripts/verify-deployment.sh (which sets the Region, profile and stack); needs boto3
(.tools/venv) and AWS's token generator (aws-bedrock-token-generator, same venv).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MCP_VERSION = "2025-06-18"
WAIT_FOR_SUSPENSION_S = 75  # the authorizer caches a policy for 60 s


@dataclass
class Row:
    check: str
    result: str
    remedy: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    failed: int = 0

    def add(self, check: str, ok: bool | None, detail: str, remedy: str = "") -> None:
        """ok: True pass, False FAIL, None a warning (works, but not as designed)."""
        result = ("pass" if ok else "FAIL" if ok is False else "WARN") + (f": {detail}" if detail else "")
        if ok is False:
            self.failed += 1
        self.rows.append(Row(check, result, "" if ok else remedy))

    def print(self) -> None:
        width = max([len(r.check) for r in self.rows] + [5])
        print(f"{'CHECK':<{width}}  {'RESULT':<70}  WHAT TO DO")
        for r in self.rows:
            print(f"{r.check:<{width}}  {r.result[:70]:<70}  {r.remedy}")


# The plan, printed by --dry-run: every step and check with the calls it makes.
PLAN = [
    ("setup", "the stack is a test stack (its StackPurpose output is test): else stop and say to verify a test stack"),
    ("setup", "onboard 3 probe clinics (verify-<random>-a, -b basic; -p premium) with tenant-admin, test users with generated passwords"),
    ("setup", "sign each probe user in: cognito-idp AdminInitiateAuth (ADMIN_USER_PASSWORD_AUTH), TOTP set up and answered when the pool requires MFA"),
    ("open check", "front door answers: POST <ApiEndpoint> as probe a (200)"),
    ("open check", "the caller's Accept reaches the runtime: that answer is text/event-stream (else answers arrive whole)"),
    ("open check", "allow-listed headers reach the Lambda target: the front-door question about opening hours makes the agent call clinic_config through the Gateway (signed with the runtime role) with X-Id-Token and the tenant headers; the call ends ok"),
    ("open check", "each tier's model on the Mantle route prefix: GET https://bedrock-mantle.<region>.api.aws/v1/models and /openai/v1/models with a short-term key"),
    ("open check", "OpenAI-Project is honoured: a 1-token chat completion with a project id that does not exist is refused"),
    ("open check", "the Cedar policies were accepted: bedrock-agentcore-control ListPolicies on the engine, every policy ACTIVE"),
    ("isolation", "vended data credentials (lambda Invoke <TokenVendingFunctionName> as a): Query PatientMetadata clinic_id=a allowed, clinic_id=b AccessDenied"),
    ("isolation", "the same credentials: S3 GetObject and ListObjectsV2 under basic-tier/b/ AccessDenied"),
    ("isolation", "vended memory credentials (lambda Invoke <MemoryVendingFunctionName> as a): ListEvents of a's actor allowed, of b's actor AccessDenied; RetrieveMemoryRecords in b's namespace AccessDenied"),
    ("isolation", "no user-held credential opens the back doors: a's token refused by the premium Gateway (MCP initialize) and the premium Runtime (HTTPS invoke), both on IAM inbound auth"),
    ("isolation", "sessions: b presenting a's session id at the front door is refused (403 session_not_owned)"),
    ("isolation", "suspension: tenant-admin set-status a suspended; a's token refused at the front door within 75 s, a new sign-in refused; then active again"),
    ("cleanup", "tenant-admin offboard --purge --yes the probes (memory, documents, rows, users erased; tombstones left); DeleteItem their usage rows (skipped with --keep)"),
]


def totp(secret_b32: str, at: float | None = None) -> str:
    """RFC 6238, 30 s steps, 6 digits: what Cognito's software token MFA checks."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def http(method: str, url: str, headers: dict, body: bytes | None = None, timeout: int = 60):
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Stack:
    def __init__(self, session, stack_name: str):
        self.session = session
        cfn = session.client("cloudformation")
        outputs = cfn.describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
        self.out = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        self.region = session.region_name
        self.outputs_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(outputs, self.outputs_file)
        self.outputs_file.close()

    def __getitem__(self, key: str) -> str:
        return self.out[key]


def tenant_admin(*args: str) -> str:
    cmd = ["cargo", "run", "--quiet", "--locked", "-p", "tenant-admin", "--", *args]
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def sign_in(cognito, stack: Stack, username: str, password: str, totp_secrets: dict) -> str:
    pool, client = stack["UserPoolId"], stack["UserPoolClientId"]
    resp = cognito.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                       AuthParameters={"USERNAME": username, "PASSWORD": password})
    while "ChallengeName" in resp:
        name, session = resp["ChallengeName"], resp["Session"]
        if name == "MFA_SETUP":
            assoc = cognito.associate_software_token(Session=session)
            totp_secrets[username] = assoc["SecretCode"]
            verified = cognito.verify_software_token(Session=assoc["Session"], UserCode=totp(assoc["SecretCode"]))
            answers, session = {"USERNAME": username}, verified["Session"]
        elif name == "SOFTWARE_TOKEN_MFA":
            answers = {"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": totp(totp_secrets[username])}
        else:
            raise RuntimeError(f"unexpected sign-in challenge {name}")
        resp = cognito.admin_respond_to_auth_challenge(UserPoolId=pool, ClientId=client, ChallengeName=name,
                                                       Session=session, ChallengeResponses=answers)
    return resp["AuthenticationResult"]["IdToken"]


def ask(stack: Stack, token: str, prompt: str, session_id: str | None = None):
    body = {"prompt": prompt}
    if session_id:
        body["session_id"] = session_id
    return http("POST", stack["ApiEndpoint"], {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Accept": "text/event-stream, application/json"}, json.dumps(body).encode())


def mcp_call(url: str, token: str, extra: dict, tool: str | None):
    """initialize (and a tools/call of `tool`) on a Gateway; (status of initialize, tool result text)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MCP_VERSION, **extra}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": MCP_VERSION, "capabilities": {}, "clientInfo": {"name": "verify-deployment", "version": "1"}}}
    status, head, _ = http("POST", url, headers, json.dumps(init).encode())
    if status != 200 or tool is None:
        return status, ""
    session = {k.lower(): v for k, v in head.items()}.get("mcp-session-id")
    if session:
        headers["Mcp-Session-Id"] = session
    http("POST", url, headers, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode())
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": {}}}
    _, _, body = http("POST", url, headers, json.dumps(call).encode())
    return status, body.decode(errors="replace")


def vend(lam, function: str, token: str, scope: str, session):
    out = lam.invoke(FunctionName=function, Payload=json.dumps({"id_token": token, "scope": scope}).encode())
    reply = json.loads(out["Payload"].read())
    if out.get("FunctionError"):
        raise RuntimeError(f"{function} refused: {reply.get('errorType')}")
    c = reply["credentials"]
    import boto3
    return boto3.session.Session(aws_access_key_id=c["access_key_id"], aws_secret_access_key=c["secret_access_key"],
                                 aws_session_token=c["session_token"], region_name=session.region_name)


def denied(call) -> bool | None:
    """True if AWS refused the call for access, False if it was allowed, None if it failed otherwise."""
    from botocore.exceptions import ClientError
    try:
        call()
        return False
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        return True if code in ("AccessDenied", "AccessDeniedException") else None


def run(args) -> int:
    import boto3

    session = boto3.session.Session(profile_name=args.profile or None, region_name=args.region or None)
    stack = Stack(session, args.stack_name)
    # The probes sign in with generated passwords (AdminInitiateAuth), which only a test stack
    # allows: a production stack keeps MFA required and password sign-in off.
    if stack.out.get("StackPurpose") != "test":
        print(f"error: stack {args.stack_name} is not a test stack (StackPurpose={stack.out.get('StackPurpose', 'absent')}): "
              "the probes sign in with generated passwords, which a production stack refuses. Verify a test stack "
              "of the same template in the same account and Region (scripts/deploy.sh --test-stack --stack-name "
              "<name> --name-prefix <prefix>), then deploy production", file=sys.stderr)
        return 2
    report = Report()
    cognito, lam = session.client("cognito-idp"), session.client("lambda")
    run_id = secrets.token_hex(3)
    probes = [(f"verify-{run_id}-a", "basic"), (f"verify-{run_id}-b", "basic"), (f"verify-{run_id}-p", "premium")]
    tenants = {"clinics": [{"clinic_id": c, "tier": t, "name": f"Verification probe {c}", "timezone": "UTC",
                            "user": {"username": f"probe@{c}.example", "role": "clinician"}} for c, t in probes]}
    work = Path(tempfile.mkdtemp(prefix="tenantry-verify-"))
    (work / "tenants.json").write_text(json.dumps(tenants))
    users_file = work / "users.json"
    tokens: dict[str, str] = {}
    totp_secrets: dict[str, str] = {}
    try:
        print(f"==> Onboarding probe clinics {', '.join(c for c, _ in probes)} (tenant-admin)")
        tenant_admin("onboard", "--tenants", str(work / "tenants.json"), "--outputs", stack.outputs_file.name,
                     "--test-users", str(users_file))
        users = {u["clinic_id"]: u for u in json.loads(users_file.read_text())["test_users"]}
        for clinic, _ in probes:
            u = users[clinic]
            tokens[clinic] = sign_in(cognito, stack, u["username"], u["password"], totp_secrets)
        a, b, p = (c for c, _ in probes)
        checks(report, stack, session, lam, tokens, a, b, p, cognito, users, totp_secrets)
    except Exception as e:  # a setup step failed: nothing below can be judged
        report.add("setup", False, f"{type(e).__name__}: {e}", "see the error; re-run with --keep to inspect the probes")
    finally:
        if args.keep:
            print(f"==> --keep: probe clinics left in place (tenant file {work / 'tenants.json'})")
        else:
            cleanup(session, stack, work, [c for c, _ in probes], report)
    report.print()
    print(f"==> {len(report.rows)} checks, {report.failed} failed")
    return 1 if report.failed else 0


def checks(report, stack, session, lam, tokens, a, b, p, cognito, users, totp_secrets):
    region = stack.region
    status, head, body = ask(stack, tokens[a], "What are the clinic's opening hours?")
    report.add("front door answers a basic clinic", status == 200, f"HTTP {status}",
               "check the request-proxy and runtime logs (docs/observability.md)")
    kind = {k.lower(): v for k, v in head.items()}.get("content-type", "")
    report.add("Accept reaches the runtime (streamed answers)", True if "event-stream" in kind else None, kind,
               "answers arrive whole (JSON); the web chat shows them, only streaming is lost")
    session_id = {k.lower(): v for k, v in head.items()}.get("x-tenantry-session-id")

    # The agent reaches the tool target through the Gateway (signed with the runtime role); the
    # target refuses a call whose allow-listed headers did not arrive. So a clinic_config call
    # that ends `ok` shows the headers reached it.
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    reached = '"tool":"clinic_config","status":"ok"' in text.replace(" ", "")
    report.add("allow-listed headers reach the tool target (the agent's clinic_config call)", reached,
               "clinic_config ok" if reached else "no successful clinic_config call in the answer",
               "the Gateway does not pass allow-listed headers to a Lambda target without a request "
               "interceptor here, or the model did not call the tool: see docs/deploying.md, open check 1")

    from aws_bedrock_token_generator import provide_token
    key = provide_token(region=region)
    tiers = json.loads((ROOT / "infra/tiers.json").read_text())["tiers"]
    for tier, cfg in tiers.items():
        where = []
        for prefix in ("/v1", "/openai/v1"):
            st, _, listing = http("GET", f"https://bedrock-mantle.{region}.api.aws{prefix}/models",
                                  {"Authorization": f"Bearer {key}"})
            if st == 200 and cfg["model_id"] in listing.decode(errors="replace"):
                where.append(prefix)
        report.add(f"model of {tier} on the Mantle route /v1", True if "/v1" in where else (None if where else False),
                   ", ".join(where) or "listed under neither prefix",
                   "the agent falls back to /openai/v1 by itself; set the runtime's TENANTRY_MODEL_BASE_URL to it to save a call"
                   if where else f"request model access to {cfg['model_id']} in {region}")
    model = next(iter(tiers.values()))["model_id"]
    st, _, _ = http("POST", f"https://bedrock-mantle.{region}.api.aws/v1/chat/completions",
                    {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                     "OpenAI-Project": "proj_tenantryverifynotaproject0"},
                    json.dumps({"model": model, "messages": [{"role": "user", "content": "ok"}], "max_tokens": 1}).encode())
    report.add("OpenAI-Project is honoured", st >= 400 if st != 429 else None, f"HTTP {st} for a project that does not exist",
               "projects are not applied: read cost per clinic from the inference_usage lines (docs/observability.md)")

    ac = session.client("bedrock-agentcore-control")
    engine = stack["PolicyEngineArn"].rsplit("/", 1)[-1]
    policies = ac.list_policies(policyEngineId=engine).get("policies", [])
    inactive = [x.get("name") for x in policies if x.get("status") != "ACTIVE"]
    report.add("Cedar policies accepted", bool(policies) and not inactive, f"{len(policies)} policies" +
               (f", not active: {inactive}" if inactive else ""),
               "read the policies' statusReasons; see docs/deploying.md, open check 5")

    data = vend(lam, stack["TokenVendingFunctionName"], tokens[a], "data", session)
    ddb = data.client("dynamodb")
    table = stack["PatientMetadataTableName"]
    q = lambda clinic: ddb.query(TableName=table, KeyConditionExpression="clinic_id = :c",
                                 ExpressionAttributeValues={":c": {"S": clinic}}, Limit=1)
    own, other = denied(lambda: q(a)), denied(lambda: q(b))
    report.add("vended data credentials: own rows", own is False, "readable" if own is False else "refused",
               "the tenant role's DynamoDB grant or its session tags are wrong (infra/policies)")
    report.add("vended data credentials: another clinic's rows", other is True, "AccessDenied" if other else "NOT refused",
               "STOP: tenant isolation is broken at IAM; remove the stack's users' access and report it")
    s3 = data.client("s3")
    bucket = stack["BasicDocumentsBucket"]
    get_other = denied(lambda: s3.get_object(Bucket=bucket, Key=f"basic-tier/{b}/probe.txt"))
    list_other = denied(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=f"basic-tier/{b}/"))
    report.add("vended data credentials: another clinic's documents", get_other is True and list_other is True,
               f"get {'refused' if get_other else 'NOT refused'}, list {'refused' if list_other else 'NOT refused'}",
               "STOP: the tenant data role must hold no S3 grant (documents come only through Retrieve)")

    memory = vend(lam, stack["MemoryVendingFunctionName"], tokens[a], "memory", session)
    mem = memory.client("bedrock-agentcore")
    memory_id = stack["BasicMemoryId"]
    actor = lambda clinic: f"basic/{clinic}/{claims(tokens[clinic])['sub']}"
    own = denied(lambda: mem.list_events(memoryId=memory_id, actorId=actor(a), sessionId="verify", maxResults=1))
    other = denied(lambda: mem.list_events(memoryId=memory_id, actorId=actor(b), sessionId="verify", maxResults=1))
    records = denied(lambda: mem.retrieve_memory_records(memoryId=memory_id, namespace=f"/clinical/{actor(b)}/facts/",
                                                         searchCriteria={"searchQuery": "probe", "topK": 1}))
    report.add("vended memory credentials: own events", own is False, "readable" if own is False else "refused",
               "the tenant memory role's grant or the actor id format is wrong (infra/policies)")
    report.add("vended memory credentials: another clinic's memory", other is True and records is True,
               f"events {'refused' if other else 'NOT refused'}, records {'refused' if records else 'NOT refused'}",
               "STOP: tenant isolation is broken at IAM (memory actor and namespace conditions)")

    # No credential a user holds opens a Runtime or a Gateway (both on IAM inbound auth).
    status, _ = mcp_call(stack["PremiumGatewayUrl"], tokens[a], {}, None)
    report.add("a user's token straight at a Gateway", status in (401, 403), f"HTTP {status}",
               "the Gateway is not on AWS_IAM inbound auth (AuthorizerType)")
    arn = urllib.parse.quote(stack["PremiumRuntimeArn"], safe="")
    st, _, _ = http("POST", f"https://bedrock-agentcore.{region}.amazonaws.com/runtimes/{arn}/invocations?qualifier=DEFAULT",
                    {"Authorization": f"Bearer {tokens[a]}", "Content-Type": "application/json",
                     "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": "verify-" + secrets.token_hex(20)},
                    b'{"prompt":"hello"}')
    report.add("a user's token straight at a Runtime", st in (401, 403), f"HTTP {st}",
               "the runtime has an authorizer that accepts user tokens (it must have none: IAM inbound auth)")

    if session_id:
        st, _, body = ask(stack, tokens[b], "continue", session_id)
        report.add("another user's session id at the front door", st == 403, f"HTTP {st}",
                   "request-proxy's session binding is not in force (TENANTRY_SESSION_KEY_PARAMETER)")

    tenant_admin("set-status", "--outputs", stack.outputs_file.name, "--clinic", a, "--status", "suspended")
    deadline, st = time.time() + WAIT_FOR_SUSPENSION_S, 200
    while time.time() < deadline and st != 403:
        time.sleep(5)
        st, _, _ = ask(stack, tokens[a], "still there?")
    report.add("a suspended clinic at the front door", st == 403, f"HTTP {st}",
               "the authorizer does not read the registry status (TenantRegistry)")
    from botocore.exceptions import ClientError
    try:
        sign_in(cognito, stack, users[a]["username"], users[a]["password"], totp_secrets)
        refused = False
    except (ClientError, RuntimeError):
        refused = True
    report.add("a suspended clinic's user signs in", refused, "refused" if refused else "NOT refused",
               "tenant-admin did not disable the users, or the pre-token trigger does not read the registry")
    tenant_admin("set-status", "--outputs", stack.outputs_file.name, "--clinic", a, "--status", "active")


def cleanup(session, stack, work, clinics, report):
    print("==> Removing the probe clinics (tenant-admin offboard --purge: memory, documents, rows, users) and their usage rows")
    try:
        tenant_admin("offboard", "--purge", "--yes", "--tenants", str(work / "tenants.json"),
                     "--outputs", stack.outputs_file.name)
        # The purge keeps usage rows (billing); a probe's are of no one's bill.
        ddb = session.client("dynamodb")
        usage = stack["UsageTableName"]
        for clinic in clinics:
            items = ddb.query(TableName=usage, KeyConditionExpression="clinic_id = :c",
                              ExpressionAttributeValues={":c": {"S": clinic}}).get("Items", [])
            for item in items:
                key = {k: v for k, v in item.items() if k in ("clinic_id", "day")}
                ddb.delete_item(TableName=usage, Key=key)
        report.add("cleanup", True, f"{len(clinics)} probe clinics removed")
    except Exception as e:
        report.add("cleanup", False, f"{type(e).__name__}: {e}",
                   "remove the probes by hand: tenant-admin offboard --purge --yes with the tenant file printed above")
        print(f"    tenant file of the probes: {work / 'tenants.json'}")
    finally:
        os.unlink(stack.outputs_file.name)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack-name", default="tenantry")
    parser.add_argument("--region")
    parser.add_argument("--profile")
    parser.add_argument("--keep", action="store_true", help="leave the probe clinics in place")
    parser.add_argument("--dry-run", action="store_true", help="print the checks and the calls they make; call nothing")
    args = parser.parse_args(argv)
    if args.dry_run:
        print(f"==> DRY RUN: the checks verify-deployment makes against stack {args.stack_name} (nothing is called)")
        for kind, what in PLAN:
            print(f"    [{kind}] {what}")
        print(f"==> Dry run complete: {sum(1 for k, _ in PLAN if k != 'setup' and k != 'cleanup')} checks planned, nothing was called")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
