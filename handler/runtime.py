"""What a deployed model ships with: its requirements on each cloud, and only the artifact it
serves. The one place that turns a manifest into an image's or a bundle's contents.

    python -m handler.runtime requirements {aws,gcp} MODEL_DIR [--source store]
    python -m handler.runtime stage {aws,gcp} MODEL_DIR OUT_DIR [--source store]
    python -m handler.runtime check MODEL_DIR [--source store]

A model's runtime follows its manifest's backend: ONNX Runtime at the version that verified the
export, or, for a model shipped as joblib only, scikit-learn (and joblib, SciPy) at the versions
that trained it. So a joblib-only model cannot ship without scikit-learn, and an ONNX model
ships without it. `requirements` and `stage` use the standard library only: the image build runs
them before anything is installed.

`requirements` prints the pins, `stage` writes them and the shipped artifacts for the image
build, `check` loads the model with what is installed. A store model (`--source store`,
models.toml's `source = "store"`) ships its runtime, as its manifest in the checkout records it,
and no artifact: its instances fetch the version their deployment pinned (handler/store.py). On
Google Cloud it also needs google-cloud-storage (requirements/gcs.txt; on AWS boto3 comes with the
Lambda runtime), and `check` can only prove that runtime imports.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from handler.manifest import (
    MANIFEST_FILE,
    Manifest,
    ManifestError,
    served_backend,
    verify_artifacts,
)

REQUIREMENTS_DIR = Path(__file__).resolve().parent / "requirements"
CLOUDS = ("aws", "gcp")
SOURCES = ("image", "store")
# What a store model needs on each cloud beyond the core, to read the store.
STORE_REQUIREMENTS = {"aws": None, "gcp": "gcs.txt"}
# What each backend imports beyond the core, as pip distributions and the manifest's keys for
# their versions (model/train.py records them under `runtime`).
BACKEND_DISTRIBUTIONS = {
    "onnx": ("onnxruntime",),
    "joblib": ("scikit-learn", "joblib", "scipy"),
}


def model_requirements(manifest: dict[str, Any]) -> list[str]:
    """Pins for the served backend, at the versions the manifest records."""
    backend = served_backend(manifest)
    versions = dict(manifest.get("runtime") or {})
    # Manifests written before `runtime` existed still say which versions mattered.
    versions.setdefault("scikit-learn", manifest.get("sklearn_version"))
    versions.setdefault("onnxruntime", (manifest.get("onnx") or {}).get("onnxruntime_version"))
    missing = [d for d in BACKEND_DISTRIBUTIONS[backend] if not versions.get(d)]
    if missing:
        raise ManifestError(
            f"the manifest does not record which {', '.join(missing)} its {backend} model needs "
            "(the versions that trained it): retrain it with `make train`, which records them"
        )
    return [f"{d}=={versions[d]}" for d in BACKEND_DISTRIBUTIONS[backend]]


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file, following `-r` includes."""
    lines: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            lines += read_requirements(path.parent / line[3:].strip())
        elif line:
            lines.append(line)
    return lines


def requirements(
    cloud: str,
    model_dir: Path,
    *,
    requirements_dir: Path = REQUIREMENTS_DIR,
    source: str = "image",
) -> str:
    """The flat, pinned requirements.txt of one model on one cloud."""
    if cloud not in CLOUDS:
        raise ValueError(f"cloud must be one of {', '.join(CLOUDS)}, got {cloud!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    store = STORE_REQUIREMENTS[cloud] if source == "store" else None
    lines = [
        f"# {cloud}: the handler's {cloud}.txt, then what the {served_backend(manifest)} model "
        f"{manifest.get('name', '')} {manifest.get('version', '')} needs (handler/runtime.py)"
        + (f", then {store} (a store model)" if store else ""),
        *read_requirements(requirements_dir / f"{cloud}.txt"),
        *model_requirements(manifest),
        *(read_requirements(requirements_dir / store) if store else []),
    ]
    return "\n".join(lines) + "\n"


def shipped_artifacts(model_dir: Path) -> list[Path]:
    """The manifest and the one artifact the deployment serves, once every artifact the
    manifest lists has matched its SHA-256: nothing unverified, and nothing unused, ships."""
    manifest = verify_artifacts(model_dir)
    served = manifest.artifacts[served_backend(manifest.raw)]
    return [model_dir / MANIFEST_FILE, served.path]


def stage(cloud: str, model_dir: Path, out_dir: Path, source: str = "image") -> None:
    """Write `out_dir/requirements.txt` and `out_dir/artifacts/` for an image build (empty for
    a store model)."""
    text = requirements(cloud, model_dir, source=source)
    (out_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    shipped = shipped_artifacts(model_dir) if source == "image" else []
    for path in shipped:
        shutil.copyfile(path, out_dir / "artifacts" / path.relative_to(model_dir))
    (out_dir / "requirements.txt").write_text(text)


def check(model_dir: Path, source: str = "image") -> str:
    """Load the model exactly as an instance will, with what is installed; its backend. A
    store model has nothing to load yet: its runtime, and boto3 to read the store, must import."""
    if source == "store":
        import importlib

        importlib.import_module("boto3")
        importlib.import_module("handler.store_s3")
        importlib.import_module("handler.model")  # numpy
        for backend, module in (("onnx", "onnxruntime"), ("joblib", "sklearn")):
            try:
                importlib.import_module(module)
            except ImportError:
                continue
            return f"{backend} (its runtime imports; the version comes from the store)"
        raise ImportError("neither onnxruntime nor scikit-learn imports: no backend to load with")
    from handler.model import load_model  # numpy and the backend: only after installation

    return load_model(model_dir).backend


def main(argv: list[str]) -> int:
    usage = __doc__.split("\n\n")[1] if __doc__ else ""
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    source = "image"
    if args[-2:-1] == ["--source"]:
        source, args = args[-1], args[:-2]
    try:
        if source not in SOURCES:
            raise ValueError(f"--source must be one of {', '.join(SOURCES)}, got {source!r}")
        if command == "requirements" and len(args) == 2:
            sys.stdout.write(requirements(args[0], Path(args[1]), source=source))
        elif command == "stage" and len(args) == 3:
            stage(args[0], Path(args[1]), Path(args[2]), source)
        elif command == "check" and len(args) == 1 and source == "store":
            print(f"a store model: {check(Path(args[0]), source)}")
        elif command == "check" and len(args) == 1:
            name = Manifest.load(Path(args[0])).name
            print(f"{name}: loads and predicts on {check(Path(args[0]))}")
        else:
            raise ValueError(f"usage:\n{usage}")
    except (RuntimeError, OSError, ValueError, ImportError) as exc:  # ManifestError, ModelLoadError
        print(f"handler.runtime: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
