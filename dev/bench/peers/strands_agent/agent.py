"""BENCHMARK PEER, never deployed: an agent of the published Python design, written for the
benchmark only, so agent-runtime can be measured beside it.

A Strands agent served by the bedrock-agentcore app (the AgentCore Runtime contract: POST
/invocations, GET /ping), of the same shape as agent-runtime and pointed at the same local
stand-ins: for each turn it verifies the caller's ID token (PyJWT, keys cached), checks the
prompt with ApplyGuardrail, assumes the memory role with the tenant's session tags (one
AssumeRole per user per credential lifetime, under a lock as agent-runtime single-flights it),
reads the session's recent turns (ListEvents) and the user's facts (RetrieveMemoryRecords),
connects to the Gateway over MCP (each request SigV4-signed with the runtime's role, as the
Gateway's IAM inbound auth requires) with the caller's token and tenant headers, lets the model
(OpenAI-compatible, streamed as Strands asks by default) call tools, checks the whole answer
with ApplyGuardrail, stores the turn (CreateEvent) and answers with JSON: the published
sample's hooks check the answer once it is whole, so nothing of it can be sent earlier.

With TENANTRY_PEER_MINIMAL=1 it is the minimal Strands agent instead: the caller's token
verified, the Gateway's tools and the model, nothing else (no guardrail, no memory), the
model's text streamed to the caller as it comes (server-sent events shaped as agent-runtime's
`text_delta` and `final` events).

It does less than agent-runtime: no check that the session id was issued to this user, no
token budget, no per-clinic usage record, no trace export.
"""

import os
import threading
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import boto3
import httpx2
import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from bedrock_agentcore.runtime import BedrockAgentCoreApp
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client
from strands import Agent
from strands.models.openai import OpenAIModel
from strands.tools.mcp import MCPClient
from tenant_credentials import fresh, tenant_client

TIER = os.environ["TENANTRY_TIER"]
ISSUER = os.environ["TENANTRY_TOKEN_ISSUER"]
AUDIENCE = os.environ["TENANTRY_TOKEN_AUDIENCE"]
GATEWAY_URL = os.environ["TENANTRY_GATEWAY_URL"]
MEMORY_ID = os.environ["TENANTRY_MEMORY_ID"]
MEMORY_ROLE_ARN = os.environ["TENANTRY_TVM_ROLE_ARN"]
NAMESPACES = os.environ["TENANTRY_MEMORY_NAMESPACES"].split(",")
GUARDRAIL_ID = os.environ["TENANTRY_GUARDRAIL_ID"]
GUARDRAIL_VERSION = os.environ["TENANTRY_GUARDRAIL_VERSION"]
SYSTEM_PROMPT = "You are the clinic's assistant. Answer from the tools' results only."
MINIMAL = os.environ.get("TENANTRY_PEER_MINIMAL") == "1"

app = BedrockAgentCoreApp()
_jwks = jwt.PyJWKClient(os.environ["TENANTRY_JWKS_URL"], cache_keys=True)
_sts = boto3.client("sts")
_guardrails = boto3.client("bedrock-runtime")
_model = OpenAIModel(
    client_args={"base_url": os.environ["TENANTRY_MODEL_BASE_URL"], "api_key": "standin"},
    model_id=os.environ["TENANTRY_MODEL_ID"],
    params={"max_tokens": 1024},
)
_memory_lock = threading.Lock()
_memory_clients = {}  # user key -> (expiry, client)


ID_TOKEN_HEADER = "x-amzn-bedrock-agentcore-runtime-custom-id-token"
_session = boto3.Session()


class _SigV4(httpx2.Auth):
    """Signs each Gateway request with the runtime role's credentials (botocore's signer):
    host, the body, and the caller's and MCP headers."""

    requires_request_body = True

    def auth_flow(self, request):
        signed = {
            k: v
            for k, v in request.headers.items()
            if k.lower() == "host" or k.lower().startswith(("x-", "mcp-", "content-type"))
        }
        aws = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=signed)
        creds = _session.get_credentials().get_frozen_credentials()
        SigV4Auth(creds, "bedrock-agentcore", _session.region_name).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws.headers:
                request.headers[name] = aws.headers[name]
        yield request


@asynccontextmanager
async def _gateway_transport(headers):
    # mcp 2.x: the transport takes an HTTP client carrying the caller's headers.
    async with (
        create_mcp_http_client(headers=headers, auth=_SigV4()) as http,
        streamable_http_client(url=GATEWAY_URL, http_client=http) as streams,
    ):
        yield streams


class Refused(Exception):
    pass


def _claims(token):
    try:
        key = _jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    except jwt.PyJWTError as e:
        raise Refused(f"unauthenticated: {e}") from e
    if claims.get("token_use") != "id" or claims.get("custom:tier") != TIER:
        raise Refused("not an ID token of this tier")
    return claims


def _memory(tier, clinic, user):
    with _memory_lock:
        client = fresh(_memory_clients.get(user))
        if client:
            return client
        _memory_clients[user] = tenant_client(
            _sts, MEMORY_ROLE_ARN, "bedrock-agentcore", tier, clinic, user
        )
        client = _memory_clients[user][1]
        return client


def _guard(text, source):
    out = _guardrails.apply_guardrail(
        guardrailIdentifier=GUARDRAIL_ID,
        guardrailVersion=GUARDRAIL_VERSION,
        source=source,
        content=[{"text": {"text": text}}],
    )
    if out.get("action") == "GUARDRAIL_INTERVENED":
        raise Refused(f"guardrail intervened on the {source.lower()}")


def _history(memory, actor, session):
    events = memory.list_events(
        memoryId=MEMORY_ID, actorId=actor, sessionId=session, includePayloads=True, maxResults=5
    ).get("events", [])
    messages = []
    for event in reversed(events):  # newest first on AWS
        for item in event.get("payload", []):
            c = item.get("conversational")
            if c and c.get("role") in ("USER", "ASSISTANT"):
                messages.append({"role": c["role"].lower(), "content": [{"text": c["content"]["text"]}]})
    return messages


def _facts(memory, actor, prompt):
    facts = []
    for template in NAMESPACES:
        records = memory.retrieve_memory_records(
            memoryId=MEMORY_ID,
            namespace=template.replace("{actorId}", actor),
            searchCriteria={"searchQuery": prompt, "topK": 5},
        ).get("memoryRecordSummaries", [])
        facts.extend(r["content"]["text"] for r in records if "text" in r.get("content", {}))
    return facts


def _tenant_headers(token, tier, clinic):
    return {
        "X-Id-Token": token,
        "X-Tier": tier,
        "X-Clinic-ID": clinic,
        "X-S3-Prefix": f"{tier}-tier/{clinic}/",
    }


def _agent(gateway, system, history=None):
    return Agent(
        model=_model,
        tools=gateway.list_tools_sync(),
        system_prompt=system,
        messages=history or [],
        callback_handler=None,
    )


def invoke(payload, context):
    headers = {k.lower(): v for k, v in (context.request_headers or {}).items()}
    token = headers.get(ID_TOKEN_HEADER, "").strip()
    try:
        claims = _claims(token)
    except Refused as e:
        return {"error": {"code": "unauthenticated", "message": str(e)}}
    tier, clinic, user = claims["custom:tier"], claims["custom:clinic_id"], claims["sub"]
    actor = f"{tier}/{clinic}/{user}"
    session = context.session_id
    prompt = payload.get("prompt", "")
    try:
        _guard(prompt, "INPUT")
        memory = _memory(tier, clinic, user)
        history = _history(memory, actor, session)
        facts = _facts(memory, actor, prompt)
        tenant_headers = _tenant_headers(token, tier, clinic)
        gateway = MCPClient(lambda: _gateway_transport(tenant_headers))
        system = SYSTEM_PROMPT + ("\nKnown facts: " + "; ".join(facts) if facts else "")
        with gateway:
            answer = str(_agent(gateway, system, history)(prompt)).strip()
        _guard(answer, "OUTPUT")
    except Refused as e:
        return {"error": {"code": "refused", "message": str(e)}}
    memory.create_event(
        memoryId=MEMORY_ID,
        actorId=actor,
        sessionId=session,
        eventTimestamp=datetime.now(timezone.utc),
        payload=[
            {"conversational": {"content": {"text": prompt}, "role": "USER"}},
            {"conversational": {"content": {"text": answer}, "role": "ASSISTANT"}},
        ],
    )
    return {"answer": answer}


async def invoke_minimal(payload, context):
    headers = {k.lower(): v for k, v in (context.request_headers or {}).items()}
    token = headers.get(ID_TOKEN_HEADER, "").strip()
    try:
        claims = _claims(token)
    except Refused as e:
        yield {"type": "error", "error": "unauthenticated", "message": str(e)}
        return
    tenant_headers = _tenant_headers(token, claims["custom:tier"], claims["custom:clinic_id"])
    gateway = MCPClient(lambda: _gateway_transport(tenant_headers))
    with gateway:
        async for event in _agent(gateway, SYSTEM_PROMPT).stream_async(payload.get("prompt", "")):
            if event.get("data"):
                yield {"type": "text_delta", "text": event["data"]}
    yield {"type": "final"}


app.entrypoint(invoke_minimal if MINIMAL else invoke)

if __name__ == "__main__":
    app.run(port=int(os.environ["PORT"]), host="127.0.0.1")
