"""The deterministic source archive and its content-addressed object name (stdlib only).

The archive holds exactly the files given, stored (not deflated) with fixed timestamps and
permissions in sorted order: the same files give the same bytes on every machine and Python (a
deflated stream depends on the zlib build). Cloud Functions rebuilds only when the source
object's name changes, so the name carries the archive's SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

# ZIP cannot store dates before 1980; any fixed value works.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--


def build_archive(files: Mapping[str, Path | bytes]) -> bytes:
    """The zip of `files` (archive name -> file on disk, or content), byte-for-byte
    reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # Unix, so external_attr means POSIX permissions everywhere
            info.external_attr = FILE_MODE << 16
            content = files[name]
            archive.writestr(info, content if isinstance(content, bytes) else content.read_bytes())
    return buffer.getvalue()


def object_name(function_name: str, archive: bytes) -> str:
    """`<function>/source-<sha256>.zip`: a new name exactly when the archive's bytes change."""
    return f"{function_name}/source-{hashlib.sha256(archive).hexdigest()}.zip"


def write_archive(archive: bytes, build_dir: Path, name: str) -> Path:
    """Write the archive where Pulumi can read it as a FileAsset; same content, same path.

    Older archives of the same function are removed: only the current one is ever uploaded.
    """
    path = build_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob("source-*.zip"):
        if stale != path:
            stale.unlink()
    if not path.is_file() or path.read_bytes() != archive:
        path.write_bytes(archive)
    return path
