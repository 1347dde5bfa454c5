"""The alarms read metrics the handler writes: run the real handler and compare what it emits
with what the synthesized alarms expect (namespace, metric, dimension sets).

Until the handler emits a metric at all, its test is an expected failure that says so; once it
does, the comparison is exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handler import aws
from handler.service import InferenceService
from handler.settings import Settings

pytestmark = pytest.mark.slow

EVENTS = Path(__file__).resolve().parents[1] / "events"


@dataclass
class Context:
    function_name: str = "SklearnInference-prod-InferenceFunction"
    function_version: str = "7"  # the executed version, as Lambda passes it through the alias
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"


def _emitted(out: str, metric: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [
        r
        for r in records
        if any(
            m["Name"] == metric
            for directive in r.get("_aws", {}).get("CloudWatchMetrics", [])
            for m in directive["Metrics"]
        )
    ]


def _dimension_names(alarm: dict[str, Any]) -> frozenset[str]:
    return frozenset(d["Name"] for d in alarm["Dimensions"])


def _emitted_sets(records: list[dict[str, Any]]) -> tuple[set[str], set[frozenset[str]]]:
    """Namespaces and dimension sets across the records (one record with two sets, or two)."""
    directives = [d for r in records for d in r["_aws"]["CloudWatchMetrics"]]
    return {d["Namespace"] for d in directives}, {
        frozenset(names) for d in directives for names in d["Dimensions"]
    }


@pytest.fixture
def broken_model(model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler with a tampered model: it fails closed and answers 503 to every request."""
    (model_copy / "model.onnx").write_bytes(b"not the model the manifest names")
    service = InferenceService.load(Settings(model_dir=model_copy))
    assert service.model is None
    monkeypatch.setattr(aws, "SERVICE", service)


def test_a_tampered_model_feeds_the_server_errors_alarms_and_not_errors(prod, broken_model, capsys):
    event = json.loads((EVENTS / "http_api_predict.json").read_text())
    # Lambda's Errors stays silent: the handler answers instead of raising
    response = aws.lambda_handler(event, Context())
    assert response["statusCode"] == 503
    records = _emitted(capsys.readouterr().out, "ServerErrors")
    if not records:
        pytest.xfail("the handler does not emit the ServerErrors metric yet")
    stack_alarm = prod.alarm("server-errors")
    (release_alarm,) = [
        a
        for name, a in prod.alarms().items()
        if name.startswith(prod.settings.stack_name + "-release-server-errors-")
    ]
    namespaces, dimension_sets = _emitted_sets(records)
    assert namespaces == {stack_alarm["Namespace"]} == {release_alarm["Namespace"]}
    # One set for the stack's alarm, one with the version for the release's
    assert dimension_sets == {_dimension_names(stack_alarm), _dimension_names(release_alarm)}
    for record in records:
        assert record["service"] == "sklearn-inference"
        assert record["function_name"] == Context.function_name  # bare name, no alias
        assert record.get("function_version", "7") == "7"


def test_an_unhealthy_model_feeds_the_health_check_alarm(prod, broken_model, capsys):
    answer = aws.lambda_handler({"healthcheck": True}, Context())
    records = _emitted(capsys.readouterr().out, "HealthCheck")
    if not records:
        pytest.xfail("the handler does not answer {'healthcheck': true} with a metric yet")
    assert answer["healthy"] is False
    alarm = prod.alarm("health-check")
    namespaces, dimension_sets = _emitted_sets(records)
    assert namespaces == {alarm["Namespace"]}
    assert dimension_sets == {_dimension_names(alarm)}
    assert all(r["HealthCheck"] in (0, 0.0, [0], [0.0]) for r in records)  # below 1: alarm
