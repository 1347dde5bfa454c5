"""A store model's instance: fetch the pinned version, verify it, load it, or fail closed.

Each test runs on moto's S3 and on the local GCS (tests/stores.py), through the handler's own
adapters, exactly as a deployed instance would find the store: from MODEL_STORE, MODEL_VERSION
and MODEL_SHA256, the environment its deployment sets.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from handler import store_gcs
from handler.service import InferenceService
from handler.settings import Settings, SettingsError
from handler.store import POINTER_FILE, ModelPrefix, sha256_hex
from ops.model_store import promote, publish
from tests.stores import Cloud

ARTIFACTS = Path(__file__).resolve().parent.parent / "model" / "artifacts"
MANIFEST = json.loads((ARTIFACTS / "manifest.json").read_text())
MANIFEST_SHA = sha256_hex((ARTIFACTS / "manifest.json").read_bytes())
V1 = MANIFEST["version"]
KEYS = ModelPrefix("", "", "models/iris")


def settings(cloud: Cloud, version: str | None = V1, sha256: str | None = MANIFEST_SHA) -> Settings:
    env = {"MODEL_SOURCE": "store", "MODEL_STORE": cloud.uri("iris")}
    if version is not None:
        env["MODEL_VERSION"] = version
    if sha256 is not None:
        env["MODEL_SHA256"] = sha256
    return Settings.from_env(env)


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's own /tmp: the instance's download folder."""
    from handler import store

    monkeypatch.setattr(store, "DEFAULT_CACHE", tmp_path / "cache")


def unavailable(service: InferenceService) -> str:
    """The 503 every request gets, and the reason the init log line gives."""
    assert service.model is None
    outcome = service.handle("GET", "/health")
    assert outcome.response.status == 503
    assert outcome.response.body["error"]["code"] == "model_unavailable"
    report = service.init_report()
    assert report["model_loaded"] is False and report["model_source"] == "store"
    return str(report["error"])


def test_store_model_serves_the_pinned_version_and_says_so(store: Cloud, tmp_path: Path) -> None:
    publish(store.store, "iris", ARTIFACTS)
    service = InferenceService.load(settings(store))
    health = service.handle("GET", "/health").response.body
    assert health["model"] == {
        "name": MANIFEST["name"],
        "version": V1,
        "sha256": MANIFEST["artifacts"]["onnx"]["sha256"][:12],
        "backend": "onnx",
        "source": "store",
    }
    report = service.init_report()
    assert (report["model_source"], report["store_version"]) == ("store", V1)
    assert report["model_store"] == store.uri("iris")
    assert 0 < report["store_fetch_ms"] <= report["model_loaded_ms"]
    # Only what it serves was downloaded, into the instance's /tmp
    assert sorted(p.name for p in service.fetched.directory.iterdir()) == [
        "manifest.json",
        "model.onnx",
    ]
    assert service.fetched.directory.is_relative_to(tmp_path / "cache")


def test_pinned_instance_ignores_a_later_promotion(store: Cloud, iris_v2: Path) -> None:
    # GIVEN v1 pinned by the deployment, and v2 promoted since (no release yet)
    publish(store.store, "iris", ARTIFACTS)
    publish(store.store, "iris", iris_v2)
    promote(store.store, "iris", "1.1.0")
    # THEN a new instance of that deployment still serves v1: only a release moves it
    service = InferenceService.load(settings(store))
    assert service.model.manifest.version == V1


def test_follow_pointer_loads_what_current_json_names(store: Cloud, iris_v2: Path) -> None:
    publish(store.store, "iris", ARTIFACTS)
    publish(store.store, "iris", iris_v2)
    promote(store.store, "iris", "1.1.0")
    service = InferenceService.load(settings(store, version="current", sha256=None))
    assert service.model.manifest.version == "1.1.0"


def test_tampered_artifact_fails_closed(store: Cloud) -> None:
    publish(store.store, "iris", ARTIFACTS)
    onnx = (ARTIFACTS / "model.onnx").read_bytes()
    store.overwrite(KEYS.version_key(V1, "model.onnx"), onnx[:-1] + b"\x00")
    reason = unavailable(InferenceService.load(settings(store)))
    assert "model.onnx does not match its manifest" in reason and "refusing to load" in reason


def test_tampered_manifest_fails_closed(store: Cloud) -> None:
    # GIVEN a manifest rewritten to vouch for another artifact: it no longer hashes to the pin
    publish(store.store, "iris", ARTIFACTS)
    forged = dict(MANIFEST, name="forged")
    store.overwrite(KEYS.version_key(V1, "manifest.json"), json.dumps(forged).encode())
    reason = unavailable(InferenceService.load(settings(store)))
    assert "manifest.json does not match the pinned SHA-256" in reason


def test_pin_of_an_unpublished_version_fails_closed(store: Cloud) -> None:
    reason = unavailable(InferenceService.load(settings(store, version="9.9.9")))
    assert "versions/9.9.9/manifest.json does not exist" in reason


def test_missing_artifact_fails_closed(store: Cloud) -> None:
    publish(store.store, "iris", ARTIFACTS)
    store.delete(KEYS.version_key(V1, "model.onnx"))
    reason = unavailable(InferenceService.load(settings(store)))
    assert "model.onnx does not exist" in reason


def test_pointer_to_a_missing_version_fails_closed(store: Cloud) -> None:
    pointer = {"version": "2.0.0", "sha256": MANIFEST_SHA}
    store.overwrite(KEYS.pointer_key, json.dumps(pointer).encode())
    reason = unavailable(InferenceService.load(settings(store, version="current", sha256=None)))
    assert "versions/2.0.0/manifest.json does not exist" in reason


def test_missing_pointer_fails_closed(store: Cloud) -> None:
    reason = unavailable(InferenceService.load(settings(store, version="current", sha256=None)))
    assert f"no pointer at {store.scheme}://{store.bucket}/models/iris/{POINTER_FILE}" in reason


def test_store_model_without_a_pin_fails_closed(store: Cloud) -> None:
    # Nothing pinned: the instance must not fall back to the live pointer (ungated)
    publish(store.store, "iris", ARTIFACTS)
    promote(store.store, "iris", V1)
    reason = unavailable(InferenceService.load(settings(store, version=None, sha256=None)))
    assert "MODEL_VERSION is not set" in reason


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_s3_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    # No moto here: a real boto3 client, its endpoint a port nothing listens on.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    env = {
        "MODEL_SOURCE": "store",
        "MODEL_STORE": "s3://models/models/iris",
        "MODEL_VERSION": V1,
        "MODEL_SHA256": MANIFEST_SHA,
    }
    reason = unavailable(InferenceService.load(Settings.from_env(env)))
    assert reason.startswith("cannot reach s3://models/models/iris/versions/1.0.0/manifest.json")


def test_unreachable_gcs_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setattr(store_gcs, "RETRY_SECONDS", 0.5)
    env = {
        "MODEL_SOURCE": "store",
        "MODEL_STORE": "gs://models/models/iris",
        "MODEL_VERSION": V1,
        "MODEL_SHA256": MANIFEST_SHA,
    }
    reason = unavailable(InferenceService.load(Settings.from_env(env)))
    assert reason.startswith("cannot reach gs://models/models/iris/versions/1.0.0/manifest.json")


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"MODEL_SOURCE": "disk"}, "MODEL_SOURCE must be one of image, store"),
        ({"MODEL_SOURCE": "store"}, "MODEL_SOURCE=store needs MODEL_STORE"),
    ],
)
def test_store_settings_are_checked(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env(env)


def test_malformed_store_location_fails_closed() -> None:
    env = {
        "MODEL_SOURCE": "store",
        "MODEL_STORE": "https://bucket/x",
        "MODEL_VERSION": V1,
        "MODEL_SHA256": MANIFEST_SHA,
    }
    assert "MODEL_STORE must look like s3://" in unavailable(
        InferenceService.load(Settings.from_env(env))
    )


# --- through the adapters, in a fresh interpreter, as an instance starts -------------------


def test_cloud_function_of_a_store_model_starts_from_the_store(gcs: Cloud, gcs_server: str) -> None:
    from tests.test_init import GCP_CALL, run_probe

    published = publish(gcs.store, "iris", ARTIFACTS)
    env = {
        "MODEL_SOURCE": "store",
        "MODEL_STORE": gcs.uri("iris"),
        "MODEL_VERSION": published.version,
        "MODEL_SHA256": published.sha256,
        "STORAGE_EMULATOR_HOST": gcs_server,
    }
    init, probe = run_probe("main", "predict", GCP_CALL, env)
    assert init["message"] == "init" and init["model_source"] == "store"
    assert (init["store_version"], init["model_version"]) == (V1, V1)
    assert probe["result"][0] == 200
    assert "boto3" not in probe["heavy"]  # the GCS adapter only


def test_lambda_of_a_store_model_pinned_to_nothing_fails_closed_at_init() -> None:
    from tests.test_init import AWS_CALL, run_probe

    env = {"MODEL_SOURCE": "store", "MODEL_STORE": "s3://models/models/iris"}
    init, probe = run_probe("handler.aws", "lambda_handler", AWS_CALL, env)
    assert init["level"] == "ERROR" and init["model_source"] == "store"
    assert "MODEL_VERSION is not set" in init["error"]
    assert probe["result"][0] == 503
