"""The exact contents of the Cloud Function source archive.

Cloud Functions builds from a zip whose root holds `main.py` and `requirements.txt`. The Pulumi
program zips what `gcf_source_files()` returns and nothing else, so caches, tests and
infrastructure code never reach the archive or change its content hash.
"""

from __future__ import annotations

from pathlib import Path

from handler.runtime import requirements, shipped_artifacts

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path("model") / "artifacts"


def gcf_source_files(
    root: Path = REPO_ROOT, artifacts: Path | None = None, *, source: str = "image"
) -> dict[str, Path | bytes]:
    """Archive name (POSIX, relative to the archive root) -> file on disk or content, sorted.

    `artifacts` is the model's artifacts directory (default `root/model/artifacts`); whichever
    model it is, its files go to `model/artifacts/` in the archive, where the handler loads from.

    Ships the handler's modules, the manifest and the one artifact the model serves, once every
    artifact the manifest lists matches its SHA-256 (ManifestError otherwise: `pulumi preview`
    stops before an altered byte can ship). The root `requirements.txt` is the handler's for
    GCP plus what the model's backend needs, pinned as its manifest records
    (handler/runtime.py): a joblib-only model gets scikit-learn, an ONNX model does not.

    A store model (`source="store"`) ships no artifact: the handler, its runtime as the
    manifest in `artifacts` records it, and google-cloud-storage to fetch its pinned version.
    """
    model_dir = root / ARTIFACTS if artifacts is None else artifacts
    files: dict[str, Path | bytes] = {
        "main.py": root / "main.py",
        "requirements.txt": requirements(
            "gcp", model_dir, requirements_dir=root / "handler" / "requirements", source=source
        ).encode(),
    }
    for module in (root / "handler").glob("*.py"):
        files[f"handler/{module.name}"] = module
    for path in shipped_artifacts(model_dir) if source == "image" else []:
        files[(ARTIFACTS / path.relative_to(model_dir)).as_posix()] = path

    missing = sorted(n for n, p in files.items() if isinstance(p, Path) and not p.is_file())
    if missing:
        raise FileNotFoundError(
            f"Cloud Function source is incomplete, missing: {', '.join(missing)}"
        )
    return dict(sorted(files.items()))
