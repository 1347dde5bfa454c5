"""The Cloud Functions adapter, served through functions-framework's own Flask app."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

import handler.gcp as gcp
from handler import service as service_module
from handler.logs import JsonLog
from handler.service import InferenceService
from handler.settings import Settings
from tests.conftest import ROOT, SETOSA, VIRGINICA
from tests.test_service import NEAR_MISS_PATHS


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
    assert response.headers["Allow"] == "POST, OPTIONS"
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


def test_body_over_the_limit_is_413(client: FlaskClient) -> None:
    response = post(client, "/", b" " * (gcp.SERVICE.max_body_bytes + 1))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def request_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    return [x for x in lines if x["message"] == "request"]


@pytest.mark.parametrize(
    ("where", "target", "error"),
    [
        ("adapter", "handle", RuntimeError("secret detail")),
        ("core", "parse_rows", KeyError("secret detail")),
    ],
)
def test_unexpected_exception_is_a_json_500_whose_log_line_has_its_traceback(
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
    target: str,
    error: Exception,
) -> None:
    def explode(*args: object) -> None:
        raise error

    monkeypatch.setattr(gcp.SERVICE if where == "adapter" else service_module, target, explode)
    response = post(client, "/", {"features": SETOSA})
    assert response.status_code == 500
    assert response.get_json()["error"] == {
        "code": "internal_error",
        "message": "internal error; see the function's logs",
    }
    assert b"secret detail" not in response.data
    [line] = request_lines(capsys.readouterr().out)
    assert (line["severity"], line["status"]) == ("ERROR", 500)
    assert line["stack_trace"].startswith("Traceback (most recent call last):\n")
    assert line["stack_trace"].endswith(f"{type(error).__name__}: {error}\n")


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
    [line] = request_lines(capsys.readouterr().out)
    assert {k: line[k] for k in ("severity", "request_id", "route", "status", "rows")} == {
        "severity": "INFO",
        "request_id": "abc123",
        "route": "/predict",
        "status": 200,
        "rows": 2,
    }
    assert isinstance(line["cold_start"], bool) and line["latency_ms"] > 0


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/favicon.ico", 404, "not_found"),
        ("GET", "/robots.txt", 404, "not_found"),
        ("OPTIONS", "/nowhere", 404, "not_found"),
        ("PUT", "/health", 405, "method_not_allowed"),
    ],
)
def test_framework_paths_and_methods_get_the_contracts_json(
    client: FlaskClient, method: str, path: str, status: int, code: str
) -> None:
    # functions-framework would answer these itself, in HTML or with an empty 200.
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize(("path", "status"), [(p, s) for p, s, _ in NEAR_MISS_PATHS])
def test_near_miss_paths_are_404_and_doubled_slashes_are_routed_not_redirected(
    client: FlaskClient, path: str, status: int
) -> None:
    # Werkzeug merges slashes with an HTML 308 redirect, which a POST client may not follow.
    # The path goes in as the server would pass it: the test client would read "//predict"
    # as a URL whose host is "predict".
    response = client.post(
        "/", data=json.dumps({"features": SETOSA}), environ_overrides={"PATH_INFO": path}
    )
    assert response.status_code == status
    if status == 200:
        assert response.get_json()["predictions"][0]["label"] == "setosa"
    else:
        assert response.get_json()["error"]["code"] == "not_found"


def test_options_is_a_bodiless_204_listing_the_routes_methods(client: FlaskClient) -> None:
    # What a CORS preflight gets when API Gateway (or any proxy) forwards it.
    response = client.options("/predict")
    assert (response.status_code, response.data) == (204, b"")
    assert response.headers["Allow"] == "POST, OPTIONS"
    assert "Content-Type" not in response.headers


def test_head_health_is_a_bodiless_200(client: FlaskClient) -> None:
    response = client.head("/health")
    assert (response.status_code, response.data) == (200, b"")
    assert response.headers["Server-Timing"].startswith("handler;dur=")


def test_every_response_carries_server_timing_and_the_cold_one_its_init_time(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = InferenceService.load(Settings())
    monkeypatch.setattr(gcp, "SERVICE", service)
    cold = client.get("/health").headers["Server-Timing"]
    warm = client.get("/health").headers["Server-Timing"]
    assert re.fullmatch(r"handler;dur=\d+\.\d{3}, init;dur=\d+\.\d", cold)
    assert f"init;dur={service.init_ms:.1f}" in cold
    assert re.fullmatch(r"handler;dur=\d+\.\d{3}", warm)


class _Body(io.RawIOBase):
    """A request body of `size` bytes that counts how much of it anyone reads, or that fails
    with `error` when read."""

    def __init__(self, size: int = 0, error: Exception | None = None) -> None:
        self.size, self.error, self.read_so_far = size, error, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.error is not None:
            raise self.error
        n = min(len(buffer), self.size - self.read_so_far)
        buffer[:n] = b" " * n
        self.read_so_far += n
        return n


def test_oversized_body_is_refused_on_its_content_length_without_being_read(
    client: FlaskClient,
) -> None:
    # 200 MiB declared: functions-framework's after-request hook would read all of it into
    # memory once the handler answered, unless the answer is streamed.
    body = _Body(200 * 1024 * 1024)
    response = client.post(
        "/",
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": str(body.size)},
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert body.read_so_far == 0


def test_oversized_body_without_content_length_is_read_only_past_the_limit(
    client: FlaskClient,
) -> None:
    body = _Body(50 * 1024 * 1024)
    response = client.post(
        "/",
        environ_overrides={"wsgi.input": body, "wsgi.input_terminated": True},
        headers={"Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 413
    assert body.read_so_far <= gcp.SERVICE.max_body_bytes + 1 + 64 * 1024  # one buffer over


def test_log_level_filters_request_lines(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(gcp, "log", JsonLog(level_key="severity", threshold="WARNING", service="s"))
    client.get("/health")
    client.get("/nope")
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(gcp, "SERVICE", InferenceService.load(Settings(model_dir=Path("/none"))))
    client.get("/health")
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["severity"], line["status"]) == ("ERROR", 503)


def test_model_unavailable_answer_names_no_artifact(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, model_copy: Path
) -> None:
    (model_copy / "model.onnx").write_bytes(b"tampered")
    monkeypatch.setattr(gcp, "SERVICE", InferenceService.load(Settings(model_dir=model_copy)))
    response = client.get("/health")
    assert response.status_code == 503
    assert "model.onnx" not in response.get_data(as_text=True)
    assert "sha256" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (TimeoutError("timed out"), 408, "body_timeout"),
        (ConnectionResetError("reset by peer"), 400, "unreadable_body"),
        (ValueError("Invalid chunk terminator"), 400, "unreadable_body"),
    ],
    ids=["stalled", "disconnected", "bad-chunking"],
)
def test_a_body_that_cannot_be_read_is_the_clients_4xx_not_a_500(
    client: FlaskClient, error: Exception, status: int, code: str
) -> None:
    response = client.post(
        "/",
        environ_overrides={"wsgi.input": _Body(error=error), "wsgi.input_terminated": True},
    )
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"].strip()
