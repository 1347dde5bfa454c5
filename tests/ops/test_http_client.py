"""The standard-library HTTP client under the tools: timing, keep-alive, throttling, failures."""

from __future__ import annotations

import pytest

from ops.http_client import HttpClient, Unreachable
from ops.load import Request, run_load
from tests.conftest import free_port
from tests.ops.conftest import Recorder

RETRY_NOW = (429, {"Retry-After": "0"})


def test_an_answer_carries_status_headers_body_and_time(recorder: Recorder) -> None:
    recorder.script = [(201, {"Server-Timing": "handler;dur=0.2"})]
    with HttpClient(recorder.url + "/stage/") as client:
        response = client.request("POST", "/predict", b'{"a": 1}', content_type="application/json")
    assert (response.status, response.json(), response.header("server-timing")) == (
        201,
        {},
        "handler;dur=0.2",
    )
    assert response.elapsed_ms > 0
    [sent] = recorder.requests
    assert (sent["method"], sent["path"], sent["body"]) == ("POST", "/stage/predict", b'{"a": 1}')
    assert sent["headers"]["content-type"] == "application/json"


def test_a_throttled_request_is_retried_when_asked(recorder: Recorder) -> None:
    recorder.script = [RETRY_NOW, RETRY_NOW]
    client = HttpClient(recorder.url, retry_throttled=2)
    assert client.request("GET", "/health").status == 200
    assert (client.throttled, len(recorder.requests)) == (2, 3)


def test_throttling_beyond_the_retries_is_answered_as_is(recorder: Recorder) -> None:
    recorder.script = [RETRY_NOW, RETRY_NOW, RETRY_NOW]
    client = HttpClient(recorder.url, retry_throttled=1)
    assert client.request("GET", "/health").status == 429
    assert HttpClient(recorder.url).request("GET", "/health").status == 429  # no retry by default


def test_no_answer_is_unreachable_with_the_reason() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(Unreachable, match=r"connection refused \(is the server running\?\)"):
        HttpClient(url, timeout=2).request("GET", "/health")


def test_paced_load_keeps_to_its_slots(recorder: Recorder) -> None:
    samples = run_load(
        lambda: HttpClient(recorder.url),
        Request("GET", "/health"),
        requests=5,
        concurrency=5,
        duration_s=10,
        rate=20,
    )
    assert len(samples) == 5
    for i, sample in enumerate(samples):
        assert sample.offset_s >= i / 20 - 0.005


def test_pacing_and_the_duration_bound_together(recorder: Recorder) -> None:
    samples = run_load(
        lambda: HttpClient(recorder.url),
        Request("GET", "/health"),
        requests=100,
        concurrency=4,
        duration_s=1.0,
        rate=2,
    )
    assert len(samples) == 2  # slots at 0 s and 0.5 s; the one at 1 s is past the cap
