"""The core: routes, responses, cold flag, fail-closed model loading and limits."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from handler import service as service_module
from handler.errors import InvalidInput, MethodNotAllowed, RequestError
from handler.limits import MAX_DERIVED_BODY_BYTES, body_limit
from handler.model import LoadedModel
from handler.service import COLD_WINDOW_SECONDS, ROUTES, InferenceService, Response
from handler.settings import Settings
from tests.conftest import ARTIFACTS, SETOSA, VERSICOLOR, VIRGINICA
from tests.test_request import INVALID, NAMES

CLASSES = ["setosa", "versicolor", "virginica"]


def predict(service: InferenceService, body: object) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    outcome = service.handle("POST", "/predict", raw)
    return outcome.response.status, outcome.response.body


def test_predict_returns_label_probabilities_classes_and_version(service: InferenceService) -> None:
    status, body = predict(service, {"features": SETOSA})
    assert status == 200
    assert body["classes"] == CLASSES
    assert body["model"] == {"name": "iris-logistic-regression", "version": "1.0.0"}
    [prediction] = body["predictions"]
    assert prediction["label"] == "setosa"
    assert len(prediction["probabilities"]) == 3
    assert prediction["probabilities"][0] > 0.9
    assert sum(prediction["probabilities"]) == pytest.approx(1.0, abs=1e-5)


def test_predict_batch_keeps_order(service: InferenceService) -> None:
    rows = [VIRGINICA, SETOSA, VERSICOLOR, SETOSA]
    status, body = predict(service, {"instances": rows})
    assert status == 200
    assert [p["label"] for p in body["predictions"]] == [
        "virginica",
        "setosa",
        "versicolor",
        "setosa",
    ]


def test_outcome_counts_rows_for_the_access_log(service: InferenceService) -> None:
    outcome = service.handle("POST", "/predict", json.dumps({"features": [SETOSA] * 7}).encode())
    assert (outcome.route, outcome.rows) == ("/predict", 7)


def test_onnx_and_joblib_backends_agree(
    service: InferenceService, joblib_service: InferenceService
) -> None:
    rng = np.random.default_rng(0)
    rows = rng.uniform([4, 2, 1, 0.1], [8, 4.5, 7, 2.5], size=(200, 4)).round(1).tolist()
    _, onnx = predict(service, {"features": rows})
    _, sk = predict(joblib_service, {"features": rows})
    assert service.model is not None and service.model.backend == "onnx"
    assert joblib_service.model is not None and joblib_service.model.backend == "joblib"
    assert [p["label"] for p in onnx["predictions"]] == [p["label"] for p in sk["predictions"]]
    np.testing.assert_allclose(
        [p["probabilities"] for p in onnx["predictions"]],
        [p["probabilities"] for p in sk["predictions"]],
        atol=1e-5,
    )


def test_health_reports_model_backend_and_hash_prefix(service: InferenceService) -> None:
    outcome = service.handle("GET", "/health")
    manifest = json.loads((ARTIFACTS / "manifest.json").read_text())
    assert outcome.response.status == 200
    assert outcome.response.body["status"] == "ok"
    assert outcome.response.body["model"] == {
        "name": manifest["name"],
        "version": manifest["version"],
        "sha256": manifest["artifacts"]["onnx"]["sha256"][:12],
        "backend": "onnx",
        "source": "image",
    }


def test_first_request_is_cold_and_later_ones_are_warm(fresh_service: InferenceService) -> None:
    first = fresh_service.handle("GET", "/health")
    second = fresh_service.handle("GET", "/health")
    assert (first.cold_start, first.response.body["cold_start"]) == (True, True)
    assert (second.cold_start, second.response.body["cold_start"]) == (False, False)


def test_instance_started_ahead_of_traffic_is_not_cold(fresh_service: InferenceService) -> None:
    # GIVEN an instance whose init finished 11 s before its first request (a GCP min instance,
    # or Lambda's proactive initialisation): that request did not wait for init.
    fresh_service.ready_at -= 11
    assert fresh_service.handle("GET", "/health").cold_start is False
    assert fresh_service.handle("GET", "/health").cold_start is False


def test_provisioned_instance_is_never_cold() -> None:
    service = InferenceService.load(Settings(prewarmed=True))
    assert service.handle("GET", "/health").response.body["cold_start"] is False


@pytest.mark.parametrize("path", ["/", "/predictions", "/predict/extra", "/healthz"])
def test_unknown_path_is_404_naming_the_routes(service: InferenceService, path: str) -> None:
    response = service.handle("POST", path, b"{}").response
    assert response.status == 404
    assert response.body["error"]["code"] == "not_found"
    assert "POST /predict, GET /health" in response.body["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/predict", "POST, OPTIONS"),
        ("PUT", "/predict", "POST, OPTIONS"),
        ("POST", "/health", "GET, HEAD, OPTIONS"),
        ("DELETE", "/health", "GET, HEAD, OPTIONS"),
    ],
)
def test_wrong_method_is_405_with_allow_header(
    service: InferenceService, method: str, path: str, allow: str
) -> None:
    response = service.handle(method, path, b"").response
    assert response.status == 405
    assert response.headers["Allow"] == allow
    assert response.headers["Content-Type"] == "application/json"
    assert response.body["error"]["code"] == "method_not_allowed"


def test_head_is_answered_like_get(service: InferenceService) -> None:
    assert service.handle("HEAD", "/health").response.status == 200
    response = service.handle("HEAD", "/predict").response
    assert (response.status, response.headers["Allow"]) == (405, "POST, OPTIONS")


@pytest.mark.parametrize(
    ("path", "allow"), [("/predict", "POST, OPTIONS"), ("/health", "GET, HEAD, OPTIONS")]
)
def test_options_answers_204_with_allow_even_without_a_model(path: str, allow: str) -> None:
    broken = InferenceService.load(Settings(model_dir=Path("/no/model")))
    response = broken.handle("OPTIONS", path).response
    assert (response.status, response.headers, response.body_bytes()) == (
        204,
        {"Allow": allow},
        b"",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/\udc80predict"), ("\ud800", "/predict"), ("GET", "/x\u0000\n" + "y" * 10_000)],
    ids=["surrogate-path", "surrogate-method", "control-chars-and-long"],
)
def test_unsafe_method_or_path_is_answered_with_safe_json(
    service: InferenceService, method: str, path: str
) -> None:
    response = service.handle(method, path, b"").response
    assert response.status in (404, 405)
    text = response.body_bytes().decode("utf-8")  # strict: no surrogate survived
    assert "\\u0000" not in text and len(text) < 600
    assert json.loads(text)["error"]["code"] in ("not_found", "method_not_allowed")


def test_probabilities_the_model_cannot_compute_are_422_never_200(
    service: InferenceService,
) -> None:
    # In float32 range, yet 3e38 times a coefficient above 1 overflows: inf - inf is NaN.
    status, body = predict(service, {"features": [SETOSA, [3e38] * 4]})
    assert status == 422
    assert body["error"]["code"] == "non_finite_prediction"
    assert "row(s) 1:" in body["error"]["message"]


def test_trailing_slash_and_lowercase_method_still_route(service: InferenceService) -> None:
    outcome = service.handle("post", "/predict/", json.dumps({"features": SETOSA}).encode())
    assert outcome.response.status == 200


def test_body_over_the_limit_is_413() -> None:
    service = InferenceService.load(Settings(max_body_bytes=100))
    response = service.handle("POST", "/predict", b" " * 101).response
    assert response.status == 413
    assert response.body["error"] == {
        "code": "payload_too_large",
        "message": "request body is larger than the limit of 100 bytes",
    }


def test_default_body_limit_is_derived_from_the_row_limit_and_the_features(
    service: InferenceService,
) -> None:
    limit = service.max_body_bytes
    assert limit == body_limit(service.model.manifest.feature_names, 1000)  # type: ignore[union-attr]
    assert 200_000 < limit < 300_000  # Iris: four short names, 1,000 rows
    at_limit = json.dumps({"features": SETOSA}).encode().ljust(limit)
    assert service.handle("POST", "/predict", at_limit).response.status == 200
    over = at_limit + b" "
    assert service.handle("POST", "/predict", over).response.body["error"] == {
        "code": "payload_too_large",
        "message": f"request body is larger than the limit of {limit} bytes",
    }
    assert service.handle("GET", "/health").response.body["limits"] == {
        "max_batch_rows": 1000,
        "max_body_bytes": limit,
    }


def test_the_largest_legal_batch_fits_the_derived_limit(service: InferenceService) -> None:
    # 1,000 rows of named features with 17-digit negative numbers, pretty-printed: the most a
    # legitimate caller sends. It must never be refused for its size.
    value = -1.2345678901234567e-30
    rows = [dict.fromkeys(service.model.manifest.feature_names, value)] * 1000  # type: ignore[union-attr]
    body = json.dumps({"instances": rows}, indent=4).encode()
    assert len(body) <= service.max_body_bytes
    assert service.handle("POST", "/predict", body).response.status == 200


def test_derived_limit_never_exceeds_what_lambda_can_receive() -> None:
    wide = [f"feature_{i:04d}" for i in range(500)]
    assert body_limit(wide, 1000) == MAX_DERIVED_BODY_BYTES == 4 * 1024 * 1024


def test_configured_body_limit_wins_over_the_derived_one() -> None:
    service = InferenceService.load(Settings(max_body_bytes=10_000_000))
    assert service.max_body_bytes == 10_000_000


def test_batch_limit_comes_from_settings() -> None:
    service = InferenceService.load(Settings(max_batch_rows=2))
    status, body = predict(service, {"features": [SETOSA] * 3})
    assert status == 400
    assert body["error"]["code"] == "batch_too_large"


def test_default_batch_limit_is_1000(service: InferenceService) -> None:
    assert predict(service, {"features": [SETOSA] * 1000})[0] == 200
    assert predict(service, {"features": [SETOSA] * 1001})[0] == 400


GENERIC_503 = {
    "code": "model_unavailable",
    "message": "the model is unavailable on this instance; see the function's logs",
}


def _unavailable(service: InferenceService) -> str:
    """Every route answers the same generic 503; the reason is only in `load_error` (which the
    init log line carries), never in a response."""
    health = service.handle("GET", "/health").response
    pred = service.handle("POST", "/predict", json.dumps({"features": SETOSA}).encode()).response
    assert (health.status, pred.status) == (503, 503)
    assert health.body["error"] == pred.body["error"] == GENERIC_503
    assert service.load_error is not None
    return service.load_error


def test_tampered_artifact_fails_closed_with_503(model_copy: Path) -> None:
    onnx = model_copy / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\x00")
    reason = _unavailable(InferenceService.load(Settings(model_dir=model_copy)))
    assert "model.onnx does not match the manifest" in reason
    assert "Traceback" not in reason


def test_missing_artifact_fails_closed_with_503(model_copy: Path) -> None:
    (model_copy / "model.onnx").unlink()
    reason = _unavailable(InferenceService.load(Settings(model_dir=model_copy)))
    assert "onnx artifact" in reason and "cannot be read" in reason


def test_missing_manifest_fails_closed_with_503(tmp_path: Path) -> None:
    reason = _unavailable(InferenceService.load(Settings(model_dir=tmp_path)))
    assert "no model manifest" in reason
    assert "python -m model.train" in reason


def test_corrupt_manifest_fails_closed_with_503(model_copy: Path) -> None:
    (model_copy / "manifest.json").write_text("{not json")
    reason = _unavailable(InferenceService.load(Settings(model_dir=model_copy)))
    assert "manifest" in reason and "unreadable" in reason


def test_tampered_joblib_fails_closed_before_unpickling(model_copy: Path) -> None:
    # A pickle runs code when loaded: the hash check must come first.
    (model_copy / "model.joblib").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    reason = _unavailable(InferenceService.load(Settings(model_dir=model_copy, backend="joblib")))
    assert "model.joblib does not match the manifest" in reason


def test_forcing_an_unlisted_backend_fails_closed(model_copy: Path) -> None:
    manifest = json.loads((model_copy / "manifest.json").read_text())
    del manifest["artifacts"]["onnx"]
    manifest["onnx"] = {"status": "skipped", "reason": "converter unavailable"}
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    reason = _unavailable(InferenceService.load(Settings(model_dir=model_copy, backend="onnx")))
    assert "MODEL_BACKEND=onnx but the manifest lists no onnx artifact" in reason
    assert "converter unavailable" in reason


def test_auto_backend_falls_back_to_joblib_without_onnx(model_copy: Path) -> None:
    manifest = json.loads((model_copy / "manifest.json").read_text())
    del manifest["artifacts"]["onnx"]
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    service = InferenceService.load(Settings(model_dir=model_copy))
    assert service.model is not None and service.model.backend == "joblib"
    assert predict(service, {"features": SETOSA})[1]["predictions"][0]["label"] == "setosa"


def test_invalid_settings_fail_closed() -> None:
    reason = _unavailable(InferenceService.from_env({"MODEL_BACKEND": "tensorflow"}))
    assert "MODEL_BACKEND must be one of auto, onnx, joblib" in reason


class _BrokenPredictor:
    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("segfault-adjacent")


def with_a_broken_model(service: InferenceService) -> InferenceService:
    """`service`'s settings and manifest, with a model that fails every prediction."""
    assert service.model is not None
    model = LoadedModel(service.model.manifest, "onnx", service.model.artifact, _BrokenPredictor())
    return InferenceService(service.settings, model)


def test_model_failure_at_predict_time_is_a_json_500(service: InferenceService) -> None:
    broken = with_a_broken_model(service)
    status, body = predict(broken, {"features": SETOSA})
    assert status == 500
    assert body["error"] == {
        "code": "prediction_failed",
        "message": "the model failed to predict: RuntimeError",
    }


def test_init_report_carries_timings_backend_and_version() -> None:
    # GIVEN imports that began 50 ms before the model started loading
    service = InferenceService.load(Settings(), init_started=time.perf_counter() - 0.05)
    report = service.init_report()
    assert report["import_ms"] == pytest.approx(50, abs=5)
    assert report["model_loaded_ms"] > 0
    assert service.init_ms == pytest.approx(50 + service.load_ms, abs=5)
    assert (report["backend"], report["model_version"], report["model_loaded"]) == (
        "onnx",
        "1.0.0",
        True,
    )


def test_init_report_of_a_failed_load_carries_the_reason(tmp_path: Path) -> None:
    report = InferenceService.load(Settings(model_dir=tmp_path)).init_report()
    assert report["model_loaded"] is False
    assert "no model manifest" in report["error"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/models/iris/predict", 200),
        ("GET", "/models/iris/health", 200),
        ("GET", "/models/iris/predict", 405),
        ("POST", "/predict", 404),  # another model's API path, or none: not this function's
        ("GET", "/models/iris", 404),
        ("GET", "/models/irises/health", 404),
    ],
)
def test_routes_mounted_under_a_prefix_when_one_api_serves_several_models(
    method: str, path: str, status: int
) -> None:
    service = InferenceService.load(Settings(route_prefix="/models/iris"))
    response = service.handle(method, path, json.dumps({"features": SETOSA}).encode()).response
    assert response.status == status
    if status == 404:
        # Outside this model's prefix (any path the API's catch-all sends here): every model's
        # route pattern, not just this model's routes.
        assert response.body["error"]["message"].endswith(
            "this API serves POST /models/<model>/predict, GET /models/<model>/health"
        )


def test_a_wrong_path_under_the_prefix_names_this_models_routes() -> None:
    service = InferenceService.load(Settings(route_prefix="/models/iris"))
    message = service.handle("GET", "/models/iris/predictions").response.body["error"]["message"]
    assert message.endswith("this API serves POST /models/iris/predict, GET /models/iris/health")


# --- the contract at its edges ----------------------------------------------------------------


def named(row: list[float], order: tuple[str, ...] = NAMES) -> dict[str, float]:
    return {name: row[NAMES.index(name)] for name in order}


@pytest.mark.parametrize("backend", ["onnx", "joblib"])
def test_named_features_predict_exactly_what_the_array_form_does(
    backend: str, service: InferenceService, joblib_service: InferenceService
) -> None:
    serving = service if backend == "onnx" else joblib_service
    rows = [SETOSA, VERSICOLOR, VIRGINICA]
    as_arrays = predict(serving, {"instances": rows})
    as_names = predict(serving, {"instances": [named(r, NAMES[::-1]) for r in rows]})
    assert as_arrays[0] == 200
    assert as_names == as_arrays
    assert predict(serving, {"features": named(VIRGINICA)}) == predict(
        serving, {"features": VIRGINICA}
    )


# Paths one typo away from /predict, and the route each is logged under; slashes at either end
# are not part of a route. The adapters' tests send the same paths.
NEAR_MISS_PATHS = [
    ("/predictX", 404, "/predictX"),
    ("/predict/x", 404, "/predict/x"),
    ("/Predict", 404, "/Predict"),
    ("/pre/dict", 404, "/pre/dict"),
    ("//predict", 200, "/predict"),
    ("/predict//", 200, "/predict"),
]


@pytest.mark.parametrize(("path", "status", "route"), [*NEAR_MISS_PATHS, ("", 404, "/")])
def test_near_miss_paths_are_404_and_only_edge_slashes_are_forgiven(
    service: InferenceService, path: str, status: int, route: str
) -> None:
    outcome = service.handle("POST", path, json.dumps({"features": SETOSA}).encode())
    assert (outcome.response.status, outcome.route) == (status, route)


def test_options_is_logged_as_a_request_on_its_route(fresh_service: InferenceService) -> None:
    first = fresh_service.handle("OPTIONS", "/predict")
    second = fresh_service.handle("OPTIONS", "/health")
    assert (first.route, first.rows, first.cold_start) == ("/predict", 0, True)
    assert (second.route, second.rows, second.cold_start) == ("/health", 0, False)


def test_a_predict_without_a_body_is_an_empty_body(service: InferenceService) -> None:
    response = service.handle("POST", "/predict").response
    assert (response.status, response.body["error"]["code"]) == (400, "empty_body")


def test_messages_echo_at_most_16_characters_of_method_and_200_of_path(
    service: InferenceService,
) -> None:
    path = "/" + "a" * 300
    assert service.handle("GET", path).response.body["error"]["message"] == (
        f"no route for GET /{'a' * 199}...; this API serves POST /predict, GET /health"
    )
    method = "X" * 17
    assert service.handle(method, "/predict").response.body["error"]["message"] == (
        f"/predict accepts POST only, not {'X' * 16}..."
    )


@pytest.mark.parametrize(
    ("bad", "listed"),
    [(5, "1, 2, 3, 4, 5"), (6, "1, 2, 3, 4, 5 and 1 more"), (7, "1, 2, 3, 4, 5 and 2 more")],
)
def test_the_422_names_the_first_five_rows_without_an_answer(
    service: InferenceService, bad: int, listed: str
) -> None:
    status, body = predict(service, {"features": [SETOSA] + [[3e38] * 4] * bad})
    assert status == 422
    assert body["error"]["message"] == (
        f"the model has no finite probabilities for row(s) {listed}: values of this magnitude "
        "overflow its arithmetic; send values in the range the model was trained on"
    )


def test_a_failed_prediction_logs_the_models_own_traceback(service: InferenceService) -> None:
    broken = with_a_broken_model(service)
    outcome = broken.handle("POST", "/predict", json.dumps({"features": SETOSA}).encode())
    assert outcome.stack_trace is not None
    lines = outcome.stack_trace.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith('  File "') and "predict_proba" in outcome.stack_trace
    assert lines[-1] == "RuntimeError: segfault-adjacent"


@pytest.mark.parametrize("route", ["/predict", "/health"])
def test_an_unexpected_exception_in_the_core_is_a_500_with_its_traceback_never_raised(
    service: InferenceService, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    def explode(*args: object) -> None:
        raise KeyError("deep inside the core")

    monkeypatch.setattr(service_module, "parse_rows", explode)
    monkeypatch.setattr(service, "_health", explode)
    method = ROUTES[route]
    outcome = service.handle(method, route, json.dumps({"features": SETOSA}).encode())
    assert (outcome.response.status, outcome.response.body, outcome.route) == (
        500,
        {"error": {"code": "internal_error", "message": "internal error; see the function's logs"}},
        route,
    )
    assert outcome.stack_trace is not None
    assert outcome.stack_trace.startswith("Traceback (most recent call last):\n")
    assert outcome.stack_trace.endswith("KeyError: 'deep inside the core'\n")


def test_a_body_orjson_cannot_write_is_still_sent_as_ascii_json() -> None:
    body = {"error": {"code": "invalid_value", "message": "lone \ud800 surrogate"}}
    sent = Response(400, body).body_bytes()
    assert json.loads(sent.decode("ascii")) == body


def test_from_env_serves_with_the_settings_it_read_and_counts_imports_in_init() -> None:
    service = InferenceService.from_env(
        {"ROUTE_PREFIX": "/models/iris"}, init_started=time.perf_counter() - 0.05
    )
    assert service.handle("GET", "/models/iris/health").response.status == 200
    assert service.init_ms - service.load_ms == pytest.approx(50, abs=5)


def test_a_load_failure_without_text_is_named_by_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise MemoryError()

    monkeypatch.setattr(service_module, "load_model", fail)
    assert InferenceService.load(Settings()).load_error == "MemoryError"


class _Clock:
    """`time` for handler.service: perf_counter reads `readings` in turn, monotonic `now`."""

    def __init__(self, *readings: float, now: float = 100.0) -> None:
        self._readings = iter(readings)
        self.now = now

    def perf_counter(self) -> float:
        return next(self._readings)

    def monotonic(self) -> float:
        return self.now


def test_init_report_rounds_each_timing_to_a_tenth_of_a_millisecond(
    service: InferenceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN imports from 0.43211 s, a model load from 1.0 s to 1.23456 s
    monkeypatch.setattr(service_module, "time", _Clock(1.0, 1.23456))
    report = InferenceService.load(Settings(), init_started=0.43211).init_report()
    assert service.model is not None
    assert report == {
        "import_ms": 567.9,
        "model_loaded_ms": 234.6,
        "model_loaded": True,
        "model_source": "image",
        "backend": "onnx",
        "model_name": service.model.manifest.name,
        "model_version": service.model.manifest.version,
        "model_sha256": service.model.artifact.sha256[:12],
    }


def test_a_service_that_loaded_nothing_reports_no_load_time() -> None:
    report = InferenceService(Settings(), None, "no model").init_report()
    assert report == {
        "import_ms": 0.0,
        "model_loaded_ms": 0.0,
        "model_loaded": False,
        "model_source": "image",
        "error": "no model",
    }


@pytest.mark.parametrize(
    ("after", "cold"), [(COLD_WINDOW_SECONDS - 0.001, True), (COLD_WINDOW_SECONDS, False)]
)
def test_a_first_request_is_cold_only_within_the_cold_window(
    monkeypatch: pytest.MonkeyPatch, after: float, cold: bool
) -> None:
    clock = _Clock()
    monkeypatch.setattr(service_module, "time", clock)
    started = InferenceService(Settings(), None)
    clock.now += after
    assert started.take_cold_start() is cold


# Every error the core answers, each from a request that provokes it.
CORE_ERRORS = [
    *[(Settings(), "POST", "/predict", body) for body, _, _ in INVALID],
    (Settings(), "POST", "/nope", b""),
    (Settings(), "PUT", "/predict", b""),
    (Settings(max_body_bytes=10), "POST", "/predict", b" " * 11),
    (Settings(), "POST", "/predict", json.dumps({"features": [[3e38] * 4]}).encode()),
    (Settings(model_dir=Path("/no/model")), "GET", "/health", b""),
]


def test_every_error_the_core_answers_carries_a_code_and_a_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setosa = json.dumps({"features": SETOSA}).encode()
    services = {settings: InferenceService.load(settings) for settings, *_ in CORE_ERRORS}
    answers = [
        services[settings].handle(method, path, body).response
        for settings, method, path, body in CORE_ERRORS
    ]
    # ...and the two 500s: the model failing, and the core itself.
    base = services[Settings()]
    answers.append(with_a_broken_model(base).handle("POST", "/predict", setosa).response)
    monkeypatch.setattr(service_module, "parse_rows", lambda *_: 1 / 0)
    answers.append(base.handle("POST", "/predict", setosa).response)

    for response in answers:
        error = response.body["error"]
        assert set(error) == {"code", "message"}
        assert isinstance(error["message"], str) and error["message"].strip(), error
        assert isinstance(error["code"], str) and error["code"], error
    codes = {response.body["error"]["code"] for response in answers}
    # Every error class the core raises is in the sweep (the GCF adapter's own two are tested
    # with the adapter), and every code request parsing can answer.
    raised_by_the_adapter = {"body_timeout", "unreadable_body"}
    classes = {cls.code for cls in _subclasses(RequestError) if cls is not InvalidInput}
    assert classes - raised_by_the_adapter <= codes
    assert {code for _, code, _ in INVALID} <= codes


def _subclasses(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


@pytest.mark.parametrize(
    "make",
    [
        lambda message: InvalidInput(message, code="invalid_value"),
        lambda message: MethodNotAllowed(message, allow="GET"),
    ],
    ids=["InvalidInput", "MethodNotAllowed"],
)
def test_an_errors_text_is_its_message(make: Callable[[str], RequestError]) -> None:
    # What a traceback that shows the error says of it. Built in the test, not at collection.
    error = make("bad value")
    assert (str(error), error.message) == ("bad value", "bad value")
