"""The model manifest: what the artifacts are and how to check they are the ones trained.

`verify_artifacts` checks every artifact the manifest lists, served or not; the image build and
the Cloud Function bundle run it (through handler/runtime.py) before anything ships, so an
artifact that would never be loaded (model.joblib beside a served ONNX model) cannot carry an
altered byte unnoticed either.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
# What a manifest must say, none of it empty: a served model has a name and version to report,
# features to read requests by, classes to answer with, and an artifact to load.
REQUIRED_FIELDS = ("name", "version", "feature_names", "class_names", "artifacts")


class ManifestError(RuntimeError):
    """When the manifest is missing, unreadable or does not vouch for an artifact"""


def served_backend(manifest: dict[str, Any]) -> str:
    """The backend a deployment serves: ONNX when the manifest vouches for an ONNX artifact
    (training verified it reproduces scikit-learn), joblib otherwise."""
    return "onnx" if "onnx" in manifest.get("artifacts", {}) else "joblib"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Artifact:
    backend: str
    path: Path
    size: int
    sha256: str

    def verified_bytes(self) -> bytes:
        """The artifact's content, read once and checked against the manifest before any use."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise ManifestError(
                f"{self.backend} artifact {self.path} cannot be read: {exc}"
            ) from None
        actual = hashlib.sha256(data).hexdigest()
        if len(data) != self.size or actual != self.sha256:
            raise ManifestError(
                f"{self.backend} artifact {self.path.name} does not match the manifest "
                f"(sha256 {actual[:12]}, {len(data)} bytes; expected {self.sha256[:12]}, "
                f"{self.size} bytes): refusing to load it"
            )
        return data


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    artifacts: dict[str, Artifact]
    raw: dict[str, Any]

    @classmethod
    def load(cls, model_dir: Path) -> Manifest:
        path = model_dir / MANIFEST_FILE
        try:
            raw = json.loads(path.read_text())
            empty = [key for key in REQUIRED_FIELDS if not raw[key]]
            if empty:
                raise ManifestError(
                    f"model manifest {path} has no {', '.join(empty)}: retrain the model "
                    "(make train)"
                )
            manifest = cls(
                name=str(raw["name"]),
                version=str(raw["version"]),
                feature_names=tuple(str(n) for n in raw["feature_names"]),
                class_names=tuple(str(n) for n in raw["class_names"]),
                artifacts={
                    backend: Artifact(
                        backend=backend,
                        path=model_dir / entry["file"],
                        size=int(entry["bytes"]),
                        sha256=str(entry["sha256"]),
                    )
                    for backend, entry in raw["artifacts"].items()
                },
                raw=raw,
            )
        except FileNotFoundError:
            raise ManifestError(
                f"no model manifest at {path}: run `python -m model.train`"
            ) from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"model manifest {path} is unreadable: {exc!r}") from None
        return manifest


def verify_artifacts(model_dir: Path) -> Manifest:
    """The manifest, once every artifact it lists, served or not, matches its size and SHA-256."""
    manifest = Manifest.load(model_dir)
    for artifact in manifest.artifacts.values():
        artifact.verified_bytes()
    return manifest
