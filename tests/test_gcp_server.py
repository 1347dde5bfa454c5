"""The Cloud Functions adapter under the real `functions-framework` command (gunicorn, one
forked worker), as Cloud Functions and `make serve` run it: what only a real server shows."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, SETOSA

FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(FUNCTIONS_FRAMEWORK),
            *("--source", "main.py", "--target", "predict"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        cwd=ROOT,
        env={**os.environ, "THREADS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"server did not start: {proc.communicate()[1][-2000:]}")
            time.sleep(0.2)
    yield proc, port
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.mark.slow
def test_oversized_body_is_refused_before_it_is_sent(
    server: tuple[subprocess.Popen[str], int],
) -> None:
    # GIVEN a client that announces 200 MiB and sends none of it
    _, port = server
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
def test_worker_shuts_down_cleanly_on_sigterm(server: tuple[subprocess.Popen[str], int]) -> None:
    # GIVEN a worker that served predictions (ONNX Runtime loaded and used)
    proc, port = server
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict", data=json.dumps({"features": SETOSA}).encode()
    )
    for _ in range(3):
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    # WHEN the platform stops the instance (Cloud Run sends SIGTERM)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    # THEN it exits normally, without ONNX Runtime aborting or hanging in the worker
    assert proc.returncode == 0, stderr[-2000:]
    assert "terminate called" not in stderr
