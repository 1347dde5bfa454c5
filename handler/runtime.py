"""What a deployed model ships with: its requirements on each cloud, and only the artifact it
serves. The one place that turns a manifest into an image's or a bundle's contents.

    python -m handler.runtime requirements {aws,gcp} MODEL_DIR   # the pinned requirements
    python -m handler.runtime stage {aws,gcp} MODEL_DIR OUT_DIR  # what the image build copies
    python -m handler.runtime check MODEL_DIR                    # load it with what is installed

A model's runtime follows its manifest's backend: ONNX Runtime at the version that verified the
export, or, for a model shipped as joblib only, scikit-learn (and joblib, SciPy) at the versions
that trained it. So a joblib-only model cannot ship without scikit-learn, and an ONNX model
ships without it. `requirements` and `stage` use the standard library only: the image build runs
them before anything is installed.
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


def requirements(cloud: str, model_dir: Path, *, requirements_dir: Path = REQUIREMENTS_DIR) -> str:
    """The flat, pinned requirements.txt of one model on one cloud."""
    if cloud not in CLOUDS:
        raise ValueError(f"cloud must be one of {', '.join(CLOUDS)}, got {cloud!r}")
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    lines = [
        f"# {cloud}: the handler's {cloud}.txt, then what the {served_backend(manifest)} model "
        f"{manifest.get('name', '')} {manifest.get('version', '')} needs (handler/runtime.py)",
        *read_requirements(requirements_dir / f"{cloud}.txt"),
        *model_requirements(manifest),
    ]
    return "\n".join(lines) + "\n"


def shipped_artifacts(model_dir: Path) -> list[Path]:
    """The manifest and the one artifact the deployment serves, once every artifact the
    manifest lists has matched its SHA-256: nothing unverified, and nothing unused, ships."""
    manifest = verify_artifacts(model_dir)
    served = manifest.artifacts[served_backend(manifest.raw)]
    return [model_dir / MANIFEST_FILE, served.path]


def stage(cloud: str, model_dir: Path, out_dir: Path) -> None:
    """Write `out_dir/requirements.txt` and `out_dir/artifacts/` for an image build."""
    text = requirements(cloud, model_dir)
    (out_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    for path in shipped_artifacts(model_dir):
        shutil.copyfile(path, out_dir / "artifacts" / path.relative_to(model_dir))
    (out_dir / "requirements.txt").write_text(text)


def check(model_dir: Path) -> str:
    """Load the model exactly as an instance will, with what is installed; its backend."""
    from handler.model import load_model  # numpy and the backend: only after installation

    return load_model(model_dir).backend


def main(argv: list[str]) -> int:
    usage = __doc__.split("\n\n")[1] if __doc__ else ""
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "requirements" and len(args) == 2:
            sys.stdout.write(requirements(args[0], Path(args[1])))
        elif command == "stage" and len(args) == 3:
            stage(args[0], Path(args[1]), Path(args[2]))
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
