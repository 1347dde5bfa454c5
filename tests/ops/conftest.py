"""Fixtures for the post-deploy tools: real local servers, moto-backed AWS, stand-in CLIs, and a
guard that keeps every test's traffic on loopback.

The servers are functions-framework serving the repository's main.py on 127.0.0.1 (a free
port), started once per session and always stopped: one with the committed model, one whose
model artifact has a flipped byte, so it fails closed and answers 503 to everything.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

import ops.cli
from model import catalog
from tests.conftest import ARTIFACTS, ROOT, Server, serve_functions_framework, stop_server
from tests.ops.fake_aws import REGION

# --- no traffic leaves loopback ----------------------------------------------------------------


def _loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except ValueError:
        return address[0] == "localhost"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test instead of leaving the machine
    (botocore's instance-metadata lookup, a stray real AWS endpoint, DNS)."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if not _loopback(address):
            raise AssertionError(f"test tried to connect to {address!r}, off loopback")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost") and not _loopback((host,)):
            raise AssertionError(f"test tried to resolve {host!r}, off loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def no_ambient_cloud_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the developer's AWS profile nor instance metadata may leak into a test."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def run_module(*argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m <argv>` from the repository root, as a user runs the tools."""
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`make serve`, on a free port: the committed model, as a user would run it."""
    server = serve_functions_framework(tmp_path_factory.mktemp("live") / "server.log", {})
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def tampered_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same server over a copy of the artifacts with one byte of the model flipped."""
    artifacts = tmp_path_factory.mktemp("tampered") / "artifacts"
    shutil.copytree(ARTIFACTS, artifacts)
    model = artifacts / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    server = serve_functions_framework(
        artifacts.parent / "server.log", {"MODEL_DIR": str(artifacts)}
    )
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def wine_server(two_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The wine model of a fork serving two (tests/conftest.py `two_models`) under its route
    prefix, /models/wine: what the API of a stack serving several routes to it."""
    artifacts = two_models.parent / "models" / "wine" / "artifacts"
    env = {"MODEL_DIR": str(artifacts), "ROUTE_PREFIX": "/models/wine"}
    server = serve_functions_framework(tmp_path_factory.mktemp("wine") / "server.log", env)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def fork_catalog(two_models: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tools read that fork's models.toml instead of the repository's."""
    monkeypatch.setattr(ops.cli, "load_catalog", lambda: catalog.load(two_models))
    return two_models


# --- AWS, in moto --------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A session on moto's in-process AWS. moto puts its own fake keys in the environment; the
    session token is ours, so SigV4 tests can see temporary credentials travel."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing-session-token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.Session(region_name=REGION)


# --- a recording server, for what a request carries -----------------------------------------


@dataclass
class Recorder:
    """A loopback HTTP server that records each request and answers with `status` and `body`,
    after first giving the answers queued in `script` as (status, headers), one per request."""

    url: str = ""
    status: int = 200
    body: bytes = b"{}"
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    state = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.rfile.read(length),
                }
            )
            status, headers = state.script.pop(0) if state.script else (state.status, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- stand-in CLIs -------------------------------------------------------------------------


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Path]:
    """PATH holds only a scratch folder; `fake_bin(name, script)` puts a shell script there."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))

    def add(name: str, script: str) -> Path:
        path = folder / name
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)
        return path

    return add


def pulumi_script(outputs: dict[str, Any], *, stack: str, record: Path) -> str:
    """A `pulumi` that knows one stack: prints its outputs and records where it ran (shell
    built-ins only: PATH holds nothing else)."""
    return (
        f'echo "$PWD $*" >> "{record}"\n'
        f'if [ "$*" != "stack output --json --stack {stack}" ]; then\n'
        "  echo \"error: no stack named '$5' found\" >&2; exit 255\n"
        "fi\n"
        f"printf '%s\\n' '{json.dumps(outputs)}'\n"
    )
