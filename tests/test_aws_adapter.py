"""The Lambda adapter on genuine API Gateway and Function URL events."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from handler import aws
from handler import service as service_module
from handler.logs import JsonLog
from handler.service import InferenceService
from handler.settings import Settings
from tests.conftest import SETOSA, LambdaContext, body_of, load_event, with_body
from tests.test_service import NEAR_MISS_PATHS


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> InferenceService:
    """A cold service in place of the module's, so cold/warm assertions do not depend on order."""
    service = InferenceService.load(Settings())
    monkeypatch.setattr(aws, "SERVICE", service)
    return service


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("name", ["http_api_predict", "rest_api_predict", "function_url_predict"])
def test_predict_event_returns_setosa(name: str, context: LambdaContext) -> None:
    response = aws.lambda_handler(load_event(name), context)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["isBase64Encoded"] is False
    assert body_of(response)["predictions"][0]["label"] == "setosa"


def test_sam_events_arrive_base64_encoded_and_are_decoded(context: LambdaContext) -> None:
    event = load_event("http_api_predict")
    assert event["isBase64Encoded"] is True and not event["body"].startswith("{")
    assert aws.lambda_handler(event, context)["statusCode"] == 200


@pytest.mark.parametrize("name", ["http_api_health", "rest_api_health"])
def test_health_event_routes_by_path_not_route_key(name: str, context: LambdaContext) -> None:
    event = load_event(name)
    response = aws.lambda_handler(event, context)
    assert response["statusCode"] == 200
    assert body_of(response)["model"]["backend"] == "onnx"


def test_http_api_route_key_is_default_and_ignored(context: LambdaContext) -> None:
    event = load_event("http_api_health")
    assert event["routeKey"] == "$default"
    event["routeKey"] = "POST /predict"  # a misleading routeKey must not change the route
    assert body_of(aws.lambda_handler(event, context))["status"] == "ok"


def test_named_stage_prefix_is_stripped(context: LambdaContext) -> None:
    event = load_event("http_api_predict")
    event["requestContext"]["stage"] = "prod"
    event["rawPath"] = "/prod/predict"
    assert aws.lambda_handler(event, context)["statusCode"] == 200


def test_plain_text_body_is_accepted(context: LambdaContext) -> None:
    event = with_body(
        load_event("http_api_predict"),
        json.dumps({"features": SETOSA}).encode(),
        base64_encoded=False,
    )
    assert aws.lambda_handler(event, context)["statusCode"] == 200


@pytest.mark.parametrize(
    ("name", "body", "status", "code"),
    [
        ("http_api_predict", b"not json", 400, "invalid_json"),
        ("rest_api_predict", b'{"features": [1, 2]}', 400, "wrong_feature_count"),
        ("function_url_predict", b'{"features": [NaN, 1, 2, 3]}', 400, "non_finite_value"),
        ("http_api_predict", b"\xff\xfe\x00", 400, "invalid_json"),
        ("http_api_predict", b" " * (6 * 1024 * 1024 + 1), 413, "payload_too_large"),
    ],
)
def test_malformed_bodies_get_4xx_json(
    name: str, body: bytes, status: int, code: str, context: LambdaContext
) -> None:
    event = with_body(load_event(name), body, base64_encoded=name != "function_url_predict")
    response = aws.lambda_handler(event, context)
    assert response["statusCode"] == status
    assert body_of(response)["error"]["code"] == code


def test_invalid_base64_is_400(context: LambdaContext) -> None:
    event = load_event("http_api_predict")
    event["body"] = "%%% not base64 %%%"
    response = aws.lambda_handler(event, context)
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "invalid_body"


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow(context: LambdaContext) -> None:
    event = load_event("http_api_predict")
    event["rawPath"] = "/nope"
    assert aws.lambda_handler(event, context)["statusCode"] == 404
    event = load_event("rest_api_health")
    event["httpMethod"] = "DELETE"
    response = aws.lambda_handler(event, context)
    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    "event", [None, [], "predict", 42, {"foo": "bar"}, {"requestContext": "x"}]
)
def test_non_http_events_get_400_json_not_an_exception(
    event: Any, fresh: InferenceService, capsys: pytest.CaptureFixture[str], context: LambdaContext
) -> None:
    response = aws.lambda_handler(event, context)
    assert response["statusCode"] == 400
    assert body_of(response)["error"] == {
        "code": "invalid_event",
        "message": "the event is not an API Gateway or Function URL request",
    }
    # No route was matched and no request was served: not the instance's cold start either.
    [line] = [x for x in json_lines(capsys.readouterr().out) if x.get("message") == "request"]
    assert (line["route"], line["rows"], line["cold_start"]) == ("-", 0, False)
    assert "stack_trace" not in line


@pytest.mark.parametrize(
    ("where", "target", "error", "route"),
    [
        ("adapter", "http_request", MemoryError("secret detail"), "-"),
        ("core", "parse_rows", KeyError("secret detail"), "/predict"),
    ],
)
def test_an_unexpected_exception_never_escapes_and_its_log_line_has_the_traceback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    context: LambdaContext,
    where: str,
    target: str,
    error: Exception,
    route: str,
) -> None:
    def explode(*args: object) -> None:
        raise error

    monkeypatch.setattr(aws if where == "adapter" else service_module, target, explode)
    response = aws.lambda_handler(load_event("http_api_predict"), context)
    assert response["statusCode"] == 500
    assert body_of(response)["error"] == {
        "code": "internal_error",
        "message": "internal error; see the function's logs",
    }
    assert "secret detail" not in response["body"]
    [line] = [x for x in json_lines(capsys.readouterr().out) if x.get("message") == "request"]
    assert (line["level"], line["status"], line["route"]) == ("ERROR", 500, route)
    assert line["stack_trace"].startswith("Traceback (most recent call last):\n")
    assert line["stack_trace"].endswith(f"{type(error).__name__}: {error}\n")


def test_warmup_answers_without_predicting(
    fresh: InferenceService, monkeypatch: pytest.MonkeyPatch, context: LambdaContext
) -> None:
    assert fresh.model is not None
    monkeypatch.setattr(
        fresh.model.predictor, "predict_proba", lambda rows: pytest.fail("warm-up must not predict")
    )
    assert aws.lambda_handler({"warmup": True}, context) == {
        "warmup": "ok",
        "cold_start": True,
        "model_loaded": True,
    }
    assert aws.lambda_handler({"warmup": True}, context)["cold_start"] is False


def test_warmup_key_inside_an_http_event_is_just_a_request(context: LambdaContext) -> None:
    event = load_event("http_api_health")
    event["warmup"] = True
    assert aws.lambda_handler(event, context)["statusCode"] == 200


def test_one_access_log_line_per_request(
    fresh: InferenceService, capsys: pytest.CaptureFixture[str], context: LambdaContext
) -> None:
    aws.lambda_handler(
        with_body(load_event("http_api_predict"), json.dumps({"features": [SETOSA] * 3}).encode()),
        context,
    )
    aws.lambda_handler(load_event("http_api_health"), context)
    lines = [
        line for line in json_lines(capsys.readouterr().out) if line.get("message") == "request"
    ]
    assert len(lines) == 2
    first, second = lines
    assert {
        k: first[k] for k in ("level", "request_id", "route", "status", "rows", "cold_start")
    } == {
        "level": "INFO",
        "request_id": context.aws_request_id,
        "route": "/predict",
        "status": 200,
        "rows": 3,
        "cold_start": True,
    }
    assert first["latency_ms"] > 0 and "timestamp" in first
    assert (second["route"], second["rows"], second["cold_start"]) == ("/health", 0, False)


def test_cold_start_metric_is_emitted_once_in_emf(
    fresh: InferenceService, capsys: pytest.CaptureFixture[str], context: LambdaContext
) -> None:
    aws.lambda_handler(load_event("http_api_health"), context)
    aws.lambda_handler(load_event("http_api_health"), context)
    emf = [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]
    assert len(emf) == 1
    [directive] = emf[0]["_aws"]["CloudWatchMetrics"]
    assert directive == {
        "Namespace": "SklearnInference",
        "Dimensions": [["function_name", "service"]],
        "Metrics": [{"Name": "ColdStart", "Unit": "Count"}],
    }
    assert (emf[0]["function_name"], emf[0]["service"]) == (
        context.function_name,
        "sklearn-inference",
    )
    assert emf[0]["ColdStart"] == 1
    assert emf[0]["message"] == "request"  # the metric rides on the request's own log line


def test_every_response_carries_server_timing_and_the_cold_one_its_init_time(
    fresh: InferenceService, context: LambdaContext
) -> None:
    cold = aws.lambda_handler(load_event("http_api_predict"), context)["headers"]["Server-Timing"]
    warm = aws.lambda_handler(load_event("http_api_predict"), context)["headers"]["Server-Timing"]
    handler_ms, init_ms = re.fullmatch(
        r"handler;dur=(\d+\.\d{3}), init;dur=(\d+\.\d)", cold
    ).groups()  # type: ignore[union-attr]
    assert float(init_ms) == round(fresh.init_ms, 1) and float(handler_ms) > 0
    assert re.fullmatch(r"handler;dur=\d+\.\d{3}", warm)


def test_rejected_event_still_carries_server_timing(context: LambdaContext) -> None:
    response = aws.lambda_handler({"requestContext": {"http": {}}}, context)
    assert response["statusCode"] == 400
    assert response["headers"]["Server-Timing"].startswith("handler;dur=")


def test_tampered_model_emits_server_errors_per_version_and_never_raises(
    monkeypatch: pytest.MonkeyPatch,
    model_copy: Any,
    capsys: pytest.CaptureFixture[str],
    context: LambdaContext,
) -> None:
    # GIVEN a model whose artifact was altered after training: it fails closed at init
    onnx = model_copy / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\x00")
    monkeypatch.setattr(aws, "SERVICE", InferenceService.load(Settings(model_dir=model_copy)))
    context.function_version = "7"
    # WHEN a request arrives, the handler answers 503 instead of raising: Lambda's own Errors
    # metric counts exceptions only, so it stays at zero...
    response = aws.lambda_handler(load_event("http_api_predict"), context)
    assert response["statusCode"] == 503
    # ...and the handler's ServerErrors metric is what sees it, on both dimension sets.
    [line] = [x for x in json_lines(capsys.readouterr().out) if x.get("message") == "request"]
    directives = line["_aws"]["CloudWatchMetrics"]
    assert {
        "Namespace": "SklearnInference",
        "Metrics": [{"Name": "ServerErrors", "Unit": "Count"}],
        "Dimensions": [
            ["function_name", "service"],
            ["function_name", "service", "function_version"],
        ],
    } in directives
    assert line["ServerErrors"] == 1
    assert (line["function_name"], line["function_version"]) == (context.function_name, "7")
    assert line["level"] == "ERROR"


def test_client_errors_emit_no_server_error_metric(
    capsys: pytest.CaptureFixture[str], context: LambdaContext
) -> None:
    aws.lambda_handler(with_body(load_event("http_api_predict"), b"not json"), context)
    [line] = [x for x in json_lines(capsys.readouterr().out) if x.get("message") == "request"]
    assert line["status"] == 400 and "ServerErrors" not in line


@pytest.mark.parametrize("broken", [False, True], ids=["healthy", "model-unavailable"])
def test_healthcheck_invoke_publishes_one_or_zero(
    broken: bool,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
    context: LambdaContext,
) -> None:
    if broken:
        monkeypatch.setattr(aws, "SERVICE", InferenceService.load(Settings(model_dir=tmp_path)))
    answer = aws.lambda_handler({"healthcheck": True}, context)
    assert answer["healthy"] is not broken
    assert ("model" in answer) is not broken
    [line] = [x for x in json_lines(capsys.readouterr().out) if x.get("message") == "healthcheck"]
    [directive] = [
        d for d in line["_aws"]["CloudWatchMetrics"] if d["Metrics"][0]["Name"] == "HealthCheck"
    ]
    assert directive["Dimensions"] == [["function_name", "service"]]
    assert line["HealthCheck"] == (0 if broken else 1)


def test_a_health_check_that_started_the_environment_is_its_cold_start(
    fresh: InferenceService, capsys: pytest.CaptureFixture[str], context: LambdaContext
) -> None:
    aws.lambda_handler({"healthcheck": True}, context)
    response = aws.lambda_handler(load_event("http_api_health"), context)
    [check] = [x for x in json_lines(capsys.readouterr().out) if x.get("message") == "healthcheck"]
    assert check["ColdStart"] == 1
    # The request after it did not wait for init: warm, no second ColdStart.
    assert "init;dur=" not in response["headers"]["Server-Timing"]


def test_log_level_filters_lines_but_never_metrics(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], context: LambdaContext
) -> None:
    service = InferenceService.load(Settings(log_level="WARNING"))
    monkeypatch.setattr(aws, "SERVICE", service)
    monkeypatch.setattr(aws, "log", JsonLog(level_key="level", threshold="WARNING", service="s"))
    aws.lambda_handler(load_event("http_api_health"), context)  # cold: carries ColdStart
    aws.lambda_handler(load_event("http_api_health"), context)  # warm, INFO: filtered out
    lines = json_lines(capsys.readouterr().out)
    assert len(lines) == 1 and lines[0]["ColdStart"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"rawPath": "/\udcff/predict"},
        {"requestContext": {"http": {"method": "P\ud800ST"}, "stage": "$default"}},
        {"headers": {"x-\ud800": "\udfff"}, "body": "\ud83d", "isBase64Encoded": False},
    ],
    ids=["path", "method", "headers-and-body"],
)
def test_lone_surrogates_in_a_direct_invoke_get_a_json_answer(
    change: dict[str, Any], capsys: pytest.CaptureFixture[str], context: LambdaContext
) -> None:
    event = {**load_event("http_api_predict"), **change}
    response = aws.lambda_handler(event, context)
    assert 400 <= response["statusCode"] < 500
    response["body"].encode("utf-8")  # strict: would raise on a lone surrogate
    assert json.loads(response["body"])["error"]["code"] in (
        "not_found",
        "method_not_allowed",
        "invalid_json",
    )
    [line] = [x for x in json_lines(capsys.readouterr().out) if x.get("message") == "request"]
    assert line["status"] == response["statusCode"]


def test_failed_model_answers_503_through_the_adapter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, context: LambdaContext
) -> None:
    monkeypatch.setattr(aws, "SERVICE", InferenceService.load(Settings(model_dir=tmp_path)))
    response = aws.lambda_handler(load_event("http_api_predict"), context)
    assert response["statusCode"] == 503
    assert body_of(response)["error"]["code"] == "model_unavailable"


def test_failure_inside_the_core_logs_its_stack_trace_but_never_sends_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], context: LambdaContext
) -> None:
    assert aws.SERVICE.model is not None

    def explode(rows: object) -> None:
        raise ValueError("shape mismatch deep inside the model")

    monkeypatch.setattr(aws.SERVICE.model.predictor, "predict_proba", explode)
    response = aws.lambda_handler(load_event("http_api_predict"), context)
    assert response["statusCode"] == 500
    assert body_of(response)["error"] == {
        "code": "prediction_failed",
        "message": "the model failed to predict: ValueError",
    }
    [line] = [x for x in json_lines(capsys.readouterr().out) if x.get("message") == "request"]
    assert line["level"] == "ERROR"
    assert "shape mismatch deep inside the model" in line["stack_trace"]


@pytest.mark.parametrize(("path", "status"), [(p, s) for p, s, _ in NEAR_MISS_PATHS])
def test_near_miss_paths_are_404_and_edge_slashes_still_route(
    path: str, status: int, context: LambdaContext
) -> None:
    event = load_event("http_api_predict")
    event["rawPath"] = path
    assert aws.lambda_handler(event, context)["statusCode"] == status
