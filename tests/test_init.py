"""Instance start-up in a fresh interpreter: the init log line, what gets imported, fail-closed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Neither adapter needs an AWS SDK, Flask's debug machinery or scikit-learn on the ONNX path.
HEAVY = ("sklearn", "scipy", "joblib", "boto3", "botocore", "aws_lambda_powertools")

PROBE = """
import json, sys
from {module} import {entry}
{call}
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print("PROBE " + json.dumps({{"heavy": heavy, "result": result}}))
"""

AWS_CALL = """
class Ctx: aws_request_id = "r"; function_name = "f"
event = {"version": "2.0", "rawPath": "/predict", "requestContext": {"http": {"method": "POST"}, "stage": "$default"}, "body": '{"features": [5.1, 3.5, 1.4, 0.2]}'}
r = lambda_handler(event, Ctx())
result = [r["statusCode"], json.loads(r["body"])]
"""

GCP_CALL = """
from functions_framework import create_app
c = create_app(target="predict", source="main.py").test_client()
r = c.post("/", json={"features": [5.1, 3.5, 1.4, 0.2]})
result = [r.status_code, r.get_json()]
"""


def run_probe(
    module: str, entry: str, call: str, env: dict[str, str] | None = None
) -> tuple[dict, dict]:
    code = PROBE.format(module=module, entry=entry, call=call, heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = proc.stdout.splitlines()
    init = next(json.loads(x) for x in lines if x.startswith("{") and '"init' in x)
    probe = json.loads(next(x for x in lines if x.startswith("PROBE "))[6:])
    return init, probe


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "entry", "call"),
    [("handler.aws", "lambda_handler", AWS_CALL), ("main", "predict", GCP_CALL)],
    ids=["aws", "gcp"],
)
def test_onnx_instance_logs_init_and_never_imports_sklearn_or_boto3(
    module: str, entry: str, call: str
) -> None:
    init, probe = run_probe(module, entry, call)
    assert init["message"] == "init"
    assert init["backend"] == "onnx" and init["model_version"] == "1.0.0"
    assert init["import_ms"] > 0 and init["model_loaded_ms"] > 0
    assert probe["result"][0] == 200
    assert probe["result"][1]["predictions"][0]["label"] == "setosa"
    assert probe["heavy"] == []


@pytest.mark.slow
def test_tampered_model_logs_a_clear_init_error_and_every_request_gets_503(
    model_copy: Path,
) -> None:
    onnx = model_copy / "model.onnx"
    onnx.write_bytes(b"tampered" + onnx.read_bytes())
    init, probe = run_probe(
        "handler.aws", "lambda_handler", AWS_CALL, env={"MODEL_DIR": str(model_copy)}
    )
    assert init["level"] == "ERROR"
    assert init["message"].startswith("init failed: the model is unavailable")
    assert "model.onnx does not match the manifest" in init["error"]
    status, body = probe["result"]
    assert status == 503
    assert body["error"]["code"] == "model_unavailable"
