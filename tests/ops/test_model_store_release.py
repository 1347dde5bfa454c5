"""A store model end to end on AWS, under fakes: published, promoted v1 -> v2, rolled back to
v1, each promotion reaching `live` only through a release that passes the pre-traffic check
against that version's own reference; and verify agreeing with the pointer throughout.

What is real: the store (moto's S3, its conditional writes), make publish-model / make promote
(ops.model_store), the instances (the handler fetching and verifying its pinned version), the
pre-traffic hook's `check` (stacks/release_hook/pre_traffic.py), the environment a deploy sets
(handler.store.deployment_environment, which the CDK stack sets: tests/aws/test_aws_model_store.py)
and `make verify` over HTTP. What is simulated: Lambda publishing a version only when the
configuration changed, and CodeDeploy moving `live` when the hook passes (`FakeRelease`).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from handler.service import InferenceService, server_timing
from handler.settings import Settings
from handler.store import deployment_environment, reference_key
from ops import model_store, verify
from ops.model_store import promote, publish
from stacks.release_hook import pre_traffic
from tests.stores import Cloud

ARTIFACTS = Path(__file__).resolve().parents[2] / "model" / "artifacts"
V1 = json.loads((ARTIFACTS / "manifest.json").read_text())["version"]
V2 = "1.1.0"  # tests/stores.py's iris_v2


class Versions:
    """A Lambda client whose invoke runs the published version `Qualifier` names."""

    def __init__(self) -> None:
        self.published: dict[str, InferenceService] = {}

    def invoke(self, FunctionName: str, Qualifier: str, Payload: bytes) -> dict[str, Any]:
        event = json.loads(Payload)
        method, path = event["requestContext"]["http"]["method"], event["rawPath"]
        outcome = self.published[Qualifier].handle(method, path, event["body"].encode())
        answer = {
            "statusCode": outcome.response.status,
            "body": outcome.response.body_bytes().decode(),
        }
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


class FakeRelease:
    """`make deploy-aws` of the store model, as far as Lambda and CodeDeploy go."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.lambda_ = Versions()
        self.configurations: list[dict[str, str]] = []
        self.live: str | None = None

    def deploy(self) -> str:
        # The CDK app pins what the pointer names now (app.py, ops.model_store.stack_pointers).
        pointer = model_store.read_pointer(self.cloud.store, "iris")
        # Nothing promoted yet: served from its image (the committed artifacts), as the stack does
        configuration = (
            {} if pointer is None else deployment_environment(self.cloud.uri("iris"), pointer)
        )
        if self.configurations and configuration == self.configurations[-1]:
            return "nothing published"  # Lambda publishes no version of an unchanged function
        self.configurations.append(configuration)
        version = str(len(self.configurations))
        self.lambda_.published[version] = InferenceService.load(Settings.from_env(configuration))
        if self.live is None:
            self.live = version  # the stack's first deploy creates `live` directly
            return f"created version {version}"
        environ = {"FUNCTION_NAME": "inference", "TARGET_VERSION": version}
        if pointer is not None:  # the hook's environment: stacks/release.py
            environ |= {
                "REFERENCE_BUCKET": self.cloud.bucket,
                "REFERENCE_KEY": reference_key("iris", pointer.version),
            }
        clients = pre_traffic.Clients(self.lambda_, None, self.cloud.raw)
        problems = pre_traffic.check("d-1", clients, environ)
        if problems:
            return f"version {version} rolled back: {problems}"
        self.live = version
        return f"released version {version}"

    @property
    def serving(self) -> InferenceService:
        assert self.live is not None
        return self.lambda_.published[self.live]


@pytest.fixture
def release(s3: Cloud) -> FakeRelease:
    return FakeRelease(s3)


@pytest.fixture
def api(release: FakeRelease) -> Iterator[str]:
    """The API in front of `live`, on loopback: what make verify calls."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.answer()

        def answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            outcome = release.serving.handle(self.command, self.path, body)
            content = outcome.response.body_bytes()
            self.send_response(outcome.response.status)
            for name, value in {
                **outcome.response.headers,
                "Server-Timing": server_timing(0.1),
            }.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def verified(api: str, cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """make verify URL=<api> ARGS='--store <the model's folder>', as JSON."""
    capsys.readouterr()  # the hook's and the instances' log lines so far
    code = verify.main(["--url", api, "--store", cloud.uri("iris"), "--requests", "3", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == (0 if document["passed"] else 1)
    return {check["name"]: check for check in document["checks"]}


def test_publish_promote_and_roll_back_each_through_the_release_gates(
    s3: Cloud, release: FakeRelease, api: str, iris_v2: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stack's first deploy, before anything is promoted: the model is served from its image
    assert release.deploy() == "created version 1"
    assert release.serving.settings.model_source == "image"

    # v1: publish, promote, release (the hook checks it against v1's reference, from the store)
    publish(s3.store, "iris", ARTIFACTS)
    promote(s3.store, "iris", V1)
    assert release.deploy() == "released version 2"
    assert (release.serving.settings.model_source, release.serving.model.manifest.version) == (
        "store",
        V1,
    )
    assert all(check["passed"] for check in verified(api, s3, capsys).values())

    # A deploy that changes nothing (a clean checkout, CI's next run) publishes nothing, and
    # verify still agrees: nothing reverted the promotion
    assert release.deploy() == "nothing published"
    assert verified(api, s3, capsys)["store_version"]["passed"]

    # v2: promoted, not released yet: verify says so, and live still serves v1
    publish(s3.store, "iris", iris_v2)
    promote(s3.store, "iris", V2)
    waiting = verified(api, s3, capsys)["store_version"]
    assert not waiting["passed"] and "a promotion not released yet" in waiting["detail"]
    assert release.deploy() == "released version 3"
    assert release.serving.model.manifest.version == V2
    assert all(check["passed"] for check in verified(api, s3, capsys).values())

    # Roll back: promote v1 again; the release publishes a new version and checks it again
    promote(s3.store, "iris", V1)
    assert release.deploy() == "released version 4"
    assert release.serving.model.manifest.version == V1
    assert all(check["passed"] for check in verified(api, s3, capsys).values())


def test_a_promoted_version_that_fails_its_check_never_serves(
    s3: Cloud, release: FakeRelease, iris_v2: Path
) -> None:
    publish(s3.store, "iris", ARTIFACTS)
    promote(s3.store, "iris", V1)
    assert release.deploy() == "created version 1"  # v1 from the store, from the first deploy on
    live = release.live
    # GIVEN v2 promoted, then its artifact altered in the store before the release
    publish(s3.store, "iris", iris_v2)
    promote(s3.store, "iris", V2)
    s3.overwrite(f"models/iris/versions/{V2}/model.onnx", b"altered")
    outcome = release.deploy()
    # THEN the new version fails closed, the hook fails it, and live stays where it was
    assert "rolled back" in outcome and "answered 503" in outcome
    assert release.live == live and release.serving.model.manifest.version == V1


def test_the_check_is_against_the_pinned_versions_own_reference(s3: Cloud, iris_v2: Path) -> None:
    # v2 checked against v1's reference fails: the reference a release uses must be its own
    publish(s3.store, "iris", ARTIFACTS)
    publish(s3.store, "iris", iris_v2)
    promote(s3.store, "iris", V2)
    versions = Versions()
    pointer = model_store.read_pointer(s3.store, "iris")
    versions.published["7"] = InferenceService.load(
        Settings.from_env(deployment_environment(s3.uri("iris"), pointer))
    )
    environ = {"FUNCTION_NAME": "inference", "TARGET_VERSION": "7", "REFERENCE_BUCKET": s3.bucket}
    clients = pre_traffic.Clients(versions, None, s3.raw)
    own = pre_traffic.check("d-1", clients, {**environ, "REFERENCE_KEY": reference_key("iris", V2)})
    other = pre_traffic.check(
        "d-1", clients, {**environ, "REFERENCE_KEY": reference_key("iris", V1)}
    )
    assert own == []
    assert any(f"the reference is for iris-logistic-regression {V1}" in p for p in other)
