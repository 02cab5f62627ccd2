"""Answers from AWS's own code, for known-answer tests of what the project builds by hand.

Each command runs the official implementation (AWS's `aws-bedrock-token-generator`, botocore's
SigV4 signer, botocore's REST serializer) on inputs given as JSON on stdin, at a fixed time,
and prints its output as JSON. The Rust tests (dev/aws-conformance) feed the same inputs
to the project's code and compare byte for byte.

Usage: python scripts/conformance/aws_reference.py COMMAND < input.json
  bedrock-token   {"access_key", "secret_key", "session_token"?, "region", "expires", "time"}
                  -> {"token"}: aws_bedrock_token_generator's short-term Bedrock API key
  sigv4-headers   {"access_key", "secret_key", "session_token"?, "region", "service", "time",
                   "method", "url", "headers": {..}, "body"}
                  -> {"headers": {..}}: the headers botocore's SigV4Auth adds
  uri-label       {"service", "operation", "params": {..}}
                  -> {"url_path"}: the request path botocore's serializer builds
`time` is ISO 8601 in UTC (e.g. "2026-12-06T10:00:00Z").
"""

from __future__ import annotations

import datetime
import json
import sys
from unittest import mock


def _frozen(time_text: str):
    """botocore.auth reads the clock through `datetime.datetime.utcnow()`/`now()`."""
    fixed = datetime.datetime.strptime(time_text, "%Y-%m-%dT%H:%M:%SZ")

    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

        @classmethod
        def now(cls, tz=None):
            return fixed.replace(tzinfo=tz) if tz else fixed

    return mock.patch("botocore.auth.datetime.datetime", Frozen)


def _credentials(args: dict):
    from botocore.credentials import Credentials

    return Credentials(args["access_key"], args["secret_key"], args.get("session_token"))


def bedrock_token(args: dict) -> dict:
    from aws_bedrock_token_generator.token_generator import _generate_token

    with _frozen(args["time"]):
        token = _generate_token(_credentials(args), args["region"], int(args["expires"]))
    return {"token": token}


def sigv4_headers(args: dict) -> dict:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=args["method"], url=args["url"], headers=dict(args.get("headers", {})),
                         data=args.get("body", "").encode())
    with _frozen(args["time"]):
        SigV4Auth(_credentials(args), args["service"], args["region"]).add_auth(request)
    return {"headers": {k: v for k, v in request.headers.items()}}


def uri_label(args: dict) -> dict:
    import botocore.session
    from botocore import serialize

    model = botocore.session.get_session().get_service_model(args["service"])
    operation = model.operation_model(args["operation"])
    serializer = serialize.create_serializer(model.metadata["protocol"])
    request = serializer.serialize_to_request(args["params"], operation)
    return {"url_path": request["url_path"]}


COMMANDS = {"bedrock-token": bedrock_token, "sigv4-headers": sigv4_headers, "uri-label": uri_label}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        args = json.load(sys.stdin)
    except ValueError as e:
        print(f"error: the input is not JSON: {e}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(COMMANDS[argv[0]](args)))
    except ImportError as e:
        print(f"error: {e}; run this with .tools/venv/bin/python (scripts/install-standins.sh installs it)",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
