"""The Cloud Functions adapter, served through functions-framework's own Flask app."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

import handler.gcp as gcp
from handler.service import InferenceService
from handler.settings import Settings
from tests.conftest import ROOT, SETOSA, VIRGINICA


@pytest.fixture(scope="module")
def client() -> FlaskClient:
    return create_app(target="predict", source=str(ROOT / "main.py")).test_client()


def post(client: FlaskClient, path: str, body: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, data=data, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("path", ["/", "/predict"])
def test_post_to_root_or_predict_returns_setosa(client: FlaskClient, path: str) -> None:
    response = post(client, path, {"features": SETOSA})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json()["predictions"][0]["label"] == "setosa"


def test_batch_and_instances_forms(client: FlaskClient) -> None:
    response = post(client, "/", {"instances": [VIRGINICA, SETOSA]})
    assert [p["label"] for p in response.get_json()["predictions"]] == ["virginica", "setosa"]


def test_health(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["model"]["backend"] == "onnx"


def test_get_on_root_is_405_allowing_post(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_unknown_path_is_404_json(client: FlaskClient) -> None:
    response = post(client, "/v1/models", {"features": SETOSA})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", "invalid_json"),
        (b"", "empty_body"),
        (b'{"features": [true, 1, 2, 3]}', "invalid_value"),
    ],
)
def test_malformed_body_is_400_json(client: FlaskClient, body: bytes, code: str) -> None:
    response = post(client, "/", body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_body_over_six_mib_is_413(client: FlaskClient) -> None:
    response = post(client, "/", b" " * (6 * 1024 * 1024 + 10))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_unexpected_exception_is_a_json_500(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(gcp.SERVICE, "handle", explode)
    response = post(client, "/", {"features": SETOSA})
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert b"secret detail" not in response.data


def test_failed_model_answers_503(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(gcp, "SERVICE", InferenceService.load(Settings(model_dir=tmp_path)))
    response = post(client, "/", {"features": SETOSA})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_unavailable"


def test_one_structured_log_line_per_request(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.post(
        "/",
        data=json.dumps({"features": [SETOSA, SETOSA]}),
        headers={"X-Cloud-Trace-Context": "abc123/1;o=1"},
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    [line] = [x for x in lines if x["message"] == "request"]
    assert {k: line[k] for k in ("severity", "request_id", "route", "status", "rows")} == {
        "severity": "INFO",
        "request_id": "abc123",
        "route": "/predict",
        "status": 200,
        "rows": 2,
    }
    assert isinstance(line["cold_start"], bool) and line["latency_ms"] > 0
