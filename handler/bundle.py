"""The exact file list of the Cloud Function source archive.

Cloud Functions builds from a zip whose root holds `main.py` and `requirements.txt`. The Pulumi
program zips what `gcf_source_files()` returns and nothing else, so caches, tests and
infrastructure code never reach the archive or change its content hash.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path("model") / "artifacts"


def gcf_source_files(root: Path = REPO_ROOT) -> dict[str, Path]:
    """Archive name (POSIX, relative to the archive root) -> file on disk, sorted by name.

    Ships the handler's modules, the manifest and only the artifacts the manifest names, with
    `handler/requirements.txt` as the archive's root `requirements.txt`.
    """
    files = {
        "main.py": root / "main.py",
        "requirements.txt": root / "handler" / "requirements.txt",
    }
    for module in (root / "handler").glob("*.py"):
        files[f"handler/{module.name}"] = module

    manifest_path = root / ARTIFACTS / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    files[(ARTIFACTS / "manifest.json").as_posix()] = manifest_path
    for artifact in manifest["artifacts"].values():
        name = (ARTIFACTS / artifact["file"]).as_posix()
        files[name] = root / name

    missing = sorted(name for name, path in files.items() if not path.is_file())
    if missing:
        raise FileNotFoundError(
            f"Cloud Function source is incomplete, missing: {', '.join(missing)}"
        )
    return dict(sorted(files.items()))
