"""`make invoke-local`: the Lambda adapter on a genuine API Gateway event, in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ARTIFACTS, ROOT


def invoke(*argv: str) -> dict:
    done = subprocess.run(
        [sys.executable, "scripts/invoke_local.py", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # stdout: the handler's JSON log lines, then the response, indented
    return json.loads(done.stdout[done.stdout.index("{\n") :])


def test_a_body_replaces_the_predict_events_own() -> None:
    # GIVEN the served model's golden cases (make train writes them beside the manifest)
    cases = json.loads((ARTIFACTS / "reference.json").read_text())["cases"]
    response = invoke("--body", json.dumps({"features": [case["features"] for case in cases]}))
    assert response["statusCode"] == 200
    labels = [p["label"] for p in response["body"]["predictions"]]
    assert labels == [case["label"] for case in cases]


def test_an_event_file_is_invoked_as_it_is() -> None:
    response = invoke("--event", "tests/events/rest_api_health.json")
    assert response["statusCode"] == 200
    assert response["body"]["status"] == "ok"
