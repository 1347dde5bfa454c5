"""The Cloud Functions adapter under the real `functions-framework` command (gunicorn, one
forked worker), as Cloud Functions and `make serve` run it: what only a real server shows."""

from __future__ import annotations

import http.client
import json
import signal
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SETOSA, Server, serve_functions_framework, stop_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    started = serve_functions_framework(tmp_path / "server.log", {"THREADS": "2"})
    yield started
    if started.process.poll() is None:
        stop_server(started)


@pytest.mark.slow
def test_oversized_body_is_refused_before_it_is_sent(server: Server) -> None:
    # GIVEN a client that announces 200 MiB and sends none of it
    port = urllib.parse.urlsplit(server.url).port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/predict")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(200 * 1024 * 1024))
    connection.endheaders()
    # THEN the 413 comes at once: nothing waits for (or reads) the body
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "payload_too_large"
    connection.close()


@pytest.mark.slow
def test_worker_shuts_down_cleanly_on_sigterm(server: Server) -> None:
    # GIVEN a worker that served predictions (ONNX Runtime loaded and used)
    request = urllib.request.Request(
        f"{server.url}/predict", data=json.dumps({"features": SETOSA}).encode()
    )
    for _ in range(3):
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    # WHEN the platform stops the instance (Cloud Run sends SIGTERM)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=30)
    # THEN it exits normally, without ONNX Runtime aborting or hanging in the worker
    assert server.process.returncode == 0, server.logs()[-2000:]
    assert "terminate called" not in server.logs()
