"""The image's CMD under the real Lambda runtime interface client (awslambdaric), which is what
public.ecr.aws/lambda/python runs: a local stand-in for the Runtime API hands it one genuine
HTTP API event and receives the response."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import ROOT, load_event

PREFIX = "/2018-06-01/runtime"
REQUEST_ID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"


class RuntimeApi(BaseHTTPRequestHandler):
    """The three Runtime API calls a healthy function makes (docs.aws.amazon.com/lambda/latest/
    dg/runtimes-api.html): next invocation, its response, or an init/invocation error."""

    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection open
    event: bytes = b""
    results: queue.Queue[tuple[str, Any]] = queue.Queue()
    served = threading.Event()

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self.send_error(404)
            return
        if self.served.is_set():  # one invocation only: park the client until the test ends
            threading.Event().wait(30)
            return
        self.served.set()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", REQUEST_ID)
        self.send_header("Lambda-Runtime-Deadline-Ms", "9999999999999")
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:f:live",
        )
        self.send_header(
            "Lambda-Runtime-Trace-Id",
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        )
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.event)))
        self.end_headers()
        self.wfile.write(self.event)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.results.put((self.path, json.loads(body or b"null")))

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_image_cmd_serves_an_http_api_event_under_awslambdaric() -> None:
    pytest.importorskip("awslambdaric")
    RuntimeApi.event = json.dumps(load_event("http_api_predict")).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_port}",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "PYTHONPATH": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
    }
    # The Dockerfile's CMD is the handler string the base image passes to awslambdaric.
    dockerfile_cmd = json.loads((ROOT / "Dockerfile").read_text().rsplit("CMD", 1)[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "awslambdaric", *dockerfile_cmd],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        path, response = RuntimeApi.results.get(timeout=60)
    finally:
        proc.kill()
        output = proc.communicate()[0]
        server.shutdown()
    assert path == f"{PREFIX}/invocation/{REQUEST_ID}/response", output
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["predictions"][0]["label"] == "setosa"
    request_lines = [
        json.loads(x)
        for x in output.splitlines()
        if x.startswith("{") and '"message":"request"' in x
    ]
    assert [line["request_id"] for line in request_lines] == [REQUEST_ID]
