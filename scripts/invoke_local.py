"""Run the Lambda adapter locally on an API Gateway event, as the Lambda runtime would call it.

    make invoke-local                                   # POST /predict, one row
    make invoke-local BODY='{"features": [[6.7, 3.0, 5.2, 2.3]]}'
    make invoke-local EVENT=tests/events/rest_api_health.json

The events are genuine: `sam local generate-event` wrote them into tests/events/ (`make events`).
Without EVENT the event is the HTTP API's POST /predict; BODY replaces the event's body, encoded
as API Gateway sends it. Only the function's own requirements are needed (make runs this in
.venv-serve), not the SAM CLI.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREDICT_EVENT = ROOT / "tests" / "events" / "http_api_predict.json"
sys.path.insert(0, str(ROOT))


class Context:
    function_name = "local"
    aws_request_id = "local-invoke"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:local"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--event", type=Path, default=PREDICT_EVENT, help="a Lambda event file")
    parser.add_argument("--body", help="the request body to put in the event")
    args = parser.parse_args()
    event = json.loads(args.event.read_text())
    if args.body is not None:
        event["body"] = base64.b64encode(args.body.encode()).decode()
        event["isBase64Encoded"] = True

    from handler.aws import lambda_handler  # after argument parsing: this loads the model

    response = lambda_handler(event, Context())
    body = json.loads(response.pop("body"))
    print(json.dumps({**response, "body": body}, indent=2))


if __name__ == "__main__":
    main()
