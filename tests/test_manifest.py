"""The model manifest: a manifest missing what it must say, or an artifact it does not vouch for,
fails closed with a message naming what is wrong."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from handler.manifest import (
    Artifact,
    Manifest,
    ManifestError,
    served_backend,
    sha256_file,
    verify_artifacts,
)
from handler.service import InferenceService
from handler.settings import Settings


def rewrite(model_dir: Path, change: dict[str, Any]) -> None:
    path = model_dir / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))


REQUIRED = ["name", "version", "feature_names", "class_names", "artifacts"]
EMPTY = {
    "name": "",
    "version": "",
    "feature_names": [],
    "class_names": [],
    "artifacts": {},
}


@pytest.mark.parametrize("value", ["empty", None], ids=["empty", "null"])
@pytest.mark.parametrize("field", REQUIRED)
def test_a_manifest_with_a_required_field_empty_fails_closed_naming_it(
    model_copy: Path, field: str, value: str | None
) -> None:
    rewrite(model_copy, {field: EMPTY[field] if value == "empty" else None})
    with pytest.raises(ManifestError) as raised:
        Manifest.load(model_copy)
    assert str(raised.value) == (
        f"model manifest {model_copy / 'manifest.json'} has no {field}: retrain the model "
        "(make train)"
    )
    service = InferenceService.load(Settings(model_dir=model_copy))
    assert service.model is None and service.load_error == str(raised.value)
    assert service.handle("GET", "/health").response.status == 503


def test_every_empty_field_is_named(model_copy: Path) -> None:
    rewrite(model_copy, {"version": "", "class_names": []})
    with pytest.raises(ManifestError, match=r"has no version, class_names: retrain"):
        Manifest.load(model_copy)


@pytest.mark.parametrize("key", ["file", "bytes", "sha256"])
def test_an_artifact_entry_with_an_empty_field_fails_closed(model_copy: Path, key: str) -> None:
    manifest = json.loads((model_copy / "manifest.json").read_text())
    manifest["artifacts"]["onnx"][key] = 0 if key == "bytes" else ""
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    service = InferenceService.load(Settings(model_dir=model_copy))
    assert service.model is None
    assert service.load_error is not None and "onnx artifact" in service.load_error
    assert service.handle("GET", "/health").response.status == 503


def test_an_artifact_that_does_not_match_says_both_hashes_and_sizes(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"abc")
    actual = hashlib.sha256(b"abc").hexdigest()
    artifact = Artifact(backend="onnx", path=path, size=4, sha256="0123456789abcdef" * 4)
    with pytest.raises(ManifestError) as raised:
        artifact.verified_bytes()
    assert str(raised.value) == (
        f"onnx artifact model.onnx does not match the manifest (sha256 {actual[:12]}, 3 bytes; "
        "expected 0123456789ab, 4 bytes): refusing to load it"
    )


def test_sha256_file_hashes_a_file_larger_than_its_read_chunk(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4097  # just over 1 MiB: two reads
    path = tmp_path / "artifact"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_verify_artifacts_checks_the_artifact_that_is_not_served(model_copy: Path) -> None:
    assert verify_artifacts(model_copy).name == "iris-logistic-regression"
    # The ONNX model is served; a changed joblib artifact must still stop the build.
    joblib = model_copy / "model.joblib"
    joblib.write_bytes(joblib.read_bytes() + b"\x00")
    with pytest.raises(ManifestError, match=r"joblib artifact model\.joblib does not match"):
        verify_artifacts(model_copy)


@pytest.mark.parametrize(
    ("manifest", "backend"),
    [
        ({"artifacts": {"joblib": {}, "onnx": {}}}, "onnx"),
        ({"artifacts": {"joblib": {}}}, "joblib"),
        ({}, "joblib"),  # handler.runtime reads a manifest before anything has checked it
    ],
    ids=["onnx-listed", "joblib-only", "no-artifacts"],
)
def test_the_served_backend_is_onnx_only_when_the_manifest_lists_it(
    manifest: dict[str, Any], backend: str
) -> None:
    assert served_backend(manifest) == backend
