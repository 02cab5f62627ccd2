"""BENCHMARK PEER, never deployed: the tool Lambda of the published Python design of this
architecture, written for the benchmark only, so tool-target can be measured beside it.

Python 3.11 + boto3 under awslambdaric. For each Gateway call it reads the tool name and the
propagated headers from the client context, verifies the caller's ID token (PyJWT, keys from
the JWKS URL, cached), checks the tenant headers against it, assumes the tenant role with the
tenant's session tags (STS AssumeRole), and answers from DynamoDB with those credentials:
patient_context queries the clinic's patients, clinic_config reads its row.

To measure the runtime rather than a caching choice, it keeps what tool-target keeps across
calls: JWKS keys, and per tenant user the credentials (until five minutes before they expire)
and a DynamoDB client built on them. Page tokens are the plain last key (tool-target seals
them), so the peer does a little less work per list call than tool-target does.
"""

import base64
import json
import os

import boto3
import jwt
from tenant_credentials import fresh, tenant_client

ISSUER = os.environ["TENANTRY_TOKEN_ISSUER"]
AUDIENCE = os.environ["TENANTRY_TOKEN_AUDIENCE"]
ROLE_ARN = os.environ["TENANTRY_TVM_ROLE_ARN"]
PATIENT_TABLE = os.environ["TENANTRY_PATIENT_TABLE"]
CLINIC_TABLE = os.environ["TENANTRY_CLINIC_TABLE"]
PAGE_SIZE = 20

_jwks = jwt.PyJWKClient(os.environ["TENANTRY_JWKS_URL"], cache_keys=True)
_sts = boto3.client("sts")
_tenants = {}  # (clinic_id, user) -> (expiry, dynamodb client)


class Refused(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _claims(token):
    try:
        key = _jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    except jwt.PyJWTError as e:
        raise Refused("unauthenticated", str(e)) from e
    if claims.get("token_use") != "id":
        raise Refused("unauthenticated", "not an ID token")
    return claims


def _dynamodb(tier, clinic, user):
    client = fresh(_tenants.get((clinic, user)))
    if client:
        return client
    _tenants[(clinic, user)] = tenant_client(_sts, ROLE_ARN, "dynamodb", tier, clinic, user)
    client = _tenants[(clinic, user)][1]
    return client


def _strings(item, key):
    return [v["S"] for v in item.get(key, {}).get("L", [])]


def _patient(item):
    return {
        "patient_id": item["patient_id"]["S"],
        "name": item["name"]["S"],
        "date_of_birth": item["date_of_birth"]["S"],
        "conditions": _strings(item, "conditions"),
        "allergies": _strings(item, "allergies"),
        "last_visit": item["last_visit"]["S"],
    }


def _serve(event, context):
    custom = (context.client_context.custom or {}) if context.client_context else {}
    name = custom.get("bedrockAgentCoreToolName", "")
    if "___" not in name:
        raise Refused("missing_tool_name", "no tool name in the client context")
    tool = name.split("___", 1)[1]
    headers = custom.get("bedrockAgentCorePropagatedHeaders") or {}
    claims = _claims(headers.get("X-Id-Token", ""))
    tier, clinic = claims["custom:tier"], claims["custom:clinic_id"]
    if headers.get("X-Tier") != tier or headers.get("X-Clinic-ID") != clinic:
        raise Refused("tenant_mismatch", "the tenant headers disagree with the token")
    ddb = _dynamodb(tier, clinic, claims["sub"])
    if tool == "patient_context":
        if event.get("patient_id"):
            item = ddb.get_item(
                TableName=PATIENT_TABLE,
                Key={"clinic_id": {"S": clinic}, "patient_id": {"S": event["patient_id"]}},
            ).get("Item")
            if not item:
                raise Refused("patient_not_found", "no such patient in this clinic")
            return {"patient": _patient(item)}
        query = {
            "TableName": PATIENT_TABLE,
            "KeyConditionExpression": "clinic_id = :c",
            "ExpressionAttributeValues": {":c": {"S": clinic}},
            "Limit": int(event.get("limit") or PAGE_SIZE),
        }
        if event.get("next_token"):
            query["ExclusiveStartKey"] = json.loads(base64.b64decode(event["next_token"]))
        out = ddb.query(**query)
        last = out.get("LastEvaluatedKey")
        return {
            "count": len(out["Items"]),
            "patients": [_patient(i) for i in out["Items"]],
            "next_token": base64.b64encode(json.dumps(last).encode()).decode() if last else None,
        }
    if tool == "clinic_config":
        item = ddb.get_item(TableName=CLINIC_TABLE, Key={"clinic_id": {"S": clinic}}).get("Item")
        if not item:
            raise Refused("clinic_not_configured", "no configuration for this clinic")
        return {
            "clinic": {
                "clinic_id": clinic,
                "name": item["name"]["S"],
                "tier": tier,
                "timezone": item["timezone"]["S"],
            }
        }
    raise Refused("unknown_tool", f"unknown tool {tool}")


def handler(event, context):
    try:
        return _serve(event, context)
    except Refused as e:
        return {"error": {"code": e.code, "message": str(e)}}
