"""Regenerate the Lambda test events in tests/events/ with `sam local generate-event`.

    make events        (or: .venv/bin/python scripts/generate_events.py)

The HTTP API (payload 2.0) and REST API (payload 1.0) events are SAM's own; note that SAM
base64-encodes their bodies. SAM has no Function URL generator, so that event is derived from
SAM's HTTP API event with the differences AWS documents for Function URL payloads
(docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads): no stage, stage
variables or path parameters, an "anonymous" account for AuthType NONE, a lambda-url domain.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

EVENTS = Path(__file__).resolve().parent.parent / "tests" / "events"
PREDICT_BODY = '{"features": [5.1, 3.5, 1.4, 0.2]}'


def sam(*args: str) -> dict:
    exe = shutil.which("sam", path=str(Path(sys.executable).parent)) or "sam"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    out = subprocess.run(
        [exe, "local", "generate-event", "apigateway", *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(out)


def function_url(http_api_event: dict) -> dict:
    event = json.loads(json.dumps(http_api_event))
    for key in ("pathParameters", "stageVariables"):
        event.pop(key, None)
    ctx = event["requestContext"]
    ctx["accountId"] = "anonymous"
    ctx["apiId"] = "url-id"
    ctx["domainName"] = "url-id.lambda-url.us-east-1.on.aws"
    ctx["domainPrefix"] = "url-id"
    ctx.pop("authentication", None)
    ctx.pop("authorizer", None)
    event["headers"] = {"content-type": "application/json", "host": ctx["domainName"]}
    # Function URLs pass text bodies through as-is.
    event["body"], event["isBase64Encoded"] = PREDICT_BODY, False
    return event


def main() -> None:
    EVENTS.mkdir(parents=True, exist_ok=True)
    http_predict = sam(
        "http-api-proxy", "--method", "POST", "--path", "predict", "--body", PREDICT_BODY
    )
    events = {
        "http_api_predict": http_predict,
        "http_api_health": sam(
            "http-api-proxy", "--method", "GET", "--path", "health", "--body", ""
        ),
        "rest_api_predict": sam(
            "aws-proxy", "--method", "POST", "--path", "predict", "--body", PREDICT_BODY
        ),
        "rest_api_health": sam("aws-proxy", "--method", "GET", "--path", "health", "--body", ""),
        "function_url_predict": function_url(http_predict),
    }
    for name, event in events.items():
        (EVENTS / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")
        print(f"wrote tests/events/{name}.json")


if __name__ == "__main__":
    main()
