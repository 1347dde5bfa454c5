"""The core's side of a store model (handler/service.py): fetch the pinned version, load it,
report it, or fail closed. An in-memory store stands in for S3 and GCS, so these run anywhere
the handler's own requirements do (make mutation's environment); the cloud adapters are
tests/test_store.py's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from handler import service as service_module
from handler.service import InferenceService
from handler.settings import Settings
from handler.store import (
    MANIFEST_FILE,
    ModelPrefix,
    Pointer,
    StoreNotFound,
    sha256_hex,
)
from tests.conftest import ARTIFACTS, SETOSA

STORE = "s3://models-test/models/iris"
MANIFEST = json.loads((ARTIFACTS / MANIFEST_FILE).read_text())
PIN = Pointer(MANIFEST["version"], sha256_hex((ARTIFACTS / MANIFEST_FILE).read_bytes()))


class MemoryStore:
    """A bucket as a dict: what fetching a version reads of a store."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.opened: list[ModelPrefix] = []

    def describe(self, key: str = "") -> str:
        return f"s3://models-test/{key}"

    def read(self, key: str) -> bytes:
        if key not in self.objects:
            raise StoreNotFound(f"no {key}")
        return self.objects[key]


def published(version: str = PIN.version) -> dict[str, bytes]:
    """The committed model as `make publish-model` lays it out in a store."""
    folder = f"models/iris/versions/{version}"
    return {f"{folder}/{path.name}": path.read_bytes() for path in ARTIFACTS.iterdir()}


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MemoryStore:
    store = MemoryStore(published())
    monkeypatch.setattr("handler.store.DEFAULT_CACHE", tmp_path / "cache")

    def open_store(location: ModelPrefix) -> MemoryStore:
        store.opened.append(location)
        return store

    monkeypatch.setattr(service_module, "open_store", open_store)
    return store


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """time.perf_counter as the service reads it: load's start, the fetch's start and end, then
    load's end."""
    ticks = [100.0, 100.5, 100.62345, 101.0]
    monkeypatch.setattr(service_module.time, "perf_counter", lambda: ticks.pop(0))
    yield ticks


def store_settings(**pin: str) -> Settings:
    return Settings(
        model_source="store",
        model_store=STORE,
        model_version=pin.get("version", PIN.version),
        model_sha256=pin.get("sha256", PIN.sha256),
    )


def test_a_store_model_serves_its_pinned_version_and_says_so(
    memory: MemoryStore, clock: list[float]
) -> None:
    service = InferenceService.load(store_settings(), init_started=99.0)
    assert clock == []  # every timing read where this test expects it
    # THEN the model is the version the pin names, fetched from the folder MODEL_STORE names
    assert memory.opened == [ModelPrefix("s3", "models-test", "models/iris")]
    assert service.model is not None and service.model.manifest.version == PIN.version
    assert service.fetched is not None and service.fetched.pointer == PIN
    assert service.fetched.directory.parent.name == "iris"
    report = service.init_report()
    assert (
        report
        == {
            "import_ms": 1000.0,  # init (99.0 -> 101.0) less the load (100.0 -> 101.0)
            "model_loaded_ms": 1000.0,
            "model_loaded": True,
            "model_source": "store",
            "model_store": STORE,
            "store_version": PIN.version,
            "store_fetch_ms": 123.5,  # 100.5 -> 100.62345: the store's own share of the load
            "backend": service.model.backend,
            "model_name": MANIFEST["name"],
            "model_version": PIN.version,
            "model_sha256": service.model.artifact.sha256[:12],
        }
    )
    outcome = service.handle("POST", "/predict", json.dumps({"features": SETOSA}).encode())
    assert outcome.response.status == 200
    health = service.handle("GET", "/health").response
    assert health.body is not None and health.body["model"]["source"] == "store"


def test_the_fetch_downloads_the_artifact_of_the_backend_the_settings_ask_for(
    memory: MemoryStore,
) -> None:
    service = InferenceService.load(replace(store_settings(), backend="joblib"))
    assert service.model is not None and service.model.backend == "joblib"


def test_an_image_model_reads_no_store(memory: MemoryStore) -> None:
    service = InferenceService.load(Settings())
    assert service.model is not None and service.fetched is None
    assert memory.opened == []
    assert "model_store" not in service.init_report()
    assert service.init_report()["model_source"] == "image"


@pytest.mark.parametrize(
    ("objects", "pin", "reason"),
    [
        ({}, {}, f"version {PIN.version} was never published"),
        (None, {"sha256": "0" * 64}, "does not match the pinned SHA-256"),
    ],
)
def test_a_store_model_that_cannot_be_fetched_fails_closed_with_the_reason(
    memory: MemoryStore, objects: dict[str, bytes] | None, pin: dict[str, str], reason: str
) -> None:
    if objects is not None:
        memory.objects = objects
    service = InferenceService.load(store_settings(**pin))
    assert service.model is None and service.fetched is None
    assert service.load_error is not None and reason in service.load_error
    report = service.init_report()
    assert (report["model_store"], report["model_loaded"]) == (STORE, False)
    assert "store_version" not in report and reason in report["error"]
    assert service.handle("GET", "/health").response.status == 503
