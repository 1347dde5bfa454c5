"""The exact file list of the Cloud Function source archive.

Cloud Functions builds from a zip whose root holds `main.py` and `requirements.txt`. The Pulumi
program zips what `gcf_source_files()` returns and nothing else, so caches, tests and
infrastructure code never reach the archive or change its content hash.
"""

from __future__ import annotations

from pathlib import Path

from handler.manifest import MANIFEST_FILE, verify_artifacts

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path("model") / "artifacts"


def gcf_source_files(root: Path = REPO_ROOT) -> dict[str, Path]:
    """Archive name (POSIX, relative to the archive root) -> file on disk, sorted by name.

    Ships the handler's modules, the manifest and only the artifacts the manifest names, with
    `handler/requirements.txt` as the archive's root `requirements.txt`. Every one of those
    artifacts must match its SHA-256 (ManifestError otherwise): `pulumi preview` stops before an
    altered byte can ship, even in an artifact the function would never load.
    """
    files = {
        "main.py": root / "main.py",
        "requirements.txt": root / "handler" / "requirements.txt",
    }
    for module in (root / "handler").glob("*.py"):
        files[f"handler/{module.name}"] = module

    manifest = verify_artifacts(root / ARTIFACTS)
    files[(ARTIFACTS / MANIFEST_FILE).as_posix()] = root / ARTIFACTS / MANIFEST_FILE
    for artifact in manifest.artifacts.values():
        files[artifact.path.relative_to(root).as_posix()] = artifact.path

    missing = sorted(name for name, path in files.items() if not path.is_file())
    if missing:
        raise FileNotFoundError(
            f"Cloud Function source is incomplete, missing: {', '.join(missing)}"
        )
    return dict(sorted(files.items()))
