"""The model manifest: what the artifacts are and how to check they are the ones trained.

    python -m handler.manifest [MODEL_DIR]   # exit 1 unless every listed artifact verifies

The image build (Dockerfile) runs that, and the Cloud Function bundle checks the same before it
is built: an artifact that ships but is never loaded (model.joblib beside a served ONNX model)
is verified too, so no altered byte ships unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"


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
        if not manifest.feature_names or not manifest.class_names or not manifest.artifacts:
            raise ManifestError(f"model manifest {path} names no features, classes or artifacts")
        return manifest


def verify_artifacts(model_dir: Path) -> Manifest:
    """The manifest, once every artifact it lists, served or not, matches its size and SHA-256."""
    manifest = Manifest.load(model_dir)
    for artifact in manifest.artifacts.values():
        artifact.verified_bytes()
    return manifest


def main(argv: list[str]) -> int:
    model_dir = (
        Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "model" / "artifacts"
    )
    try:
        manifest = verify_artifacts(model_dir)
    except ManifestError as exc:
        print(f"handler.manifest: {exc}", file=sys.stderr)
        return 1
    names = ", ".join(a.path.name for a in manifest.artifacts.values())
    print(f"{model_dir}: {names} verified")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
