"""The function's source: a private bucket and a deterministic zip named by its content hash.

Cloud Functions rebuilds only when `build_config.source.storage_source.object` changes, so the
object name carries the SHA-256 of the archive. The archive holds exactly the files
`handler.bundle.gcf_source_files()` names, stored (not deflated) with fixed timestamps and
permissions in sorted order: the same files give the same bytes on every machine and Python
(a deflated stream depends on the zlib build), and nothing else (caches, tests, this program)
can reach the archive or its hash.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

# ZIP cannot store dates before 1980; any fixed value works.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--


def build_archive(files: Mapping[str, Path]) -> bytes:
    """The zip of `files` (archive name -> file on disk), byte-for-byte reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # Unix, so external_attr means POSIX permissions everywhere
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, files[name].read_bytes())
    return buffer.getvalue()


def object_name(function_name: str, archive: bytes) -> str:
    """`<function>/source-<sha256>.zip`: a new name exactly when the archive's bytes change."""
    return f"{function_name}/source-{hashlib.sha256(archive).hexdigest()}.zip"


def write_archive(archive: bytes, build_dir: Path, name: str) -> Path:
    """Write the archive where Pulumi can read it as a FileAsset; same content, same path."""
    path = build_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_bytes() != archive:
        path.write_bytes(archive)
    return path


@dataclass(frozen=True)
class SourceBundleArgs:
    project: str
    region: str
    function_name: str
    files: Mapping[str, Path]
    build_dir: Path
    retention_days: int


class SourceBundle(pulumi.ComponentResource):
    """A private, uniform-access bucket and the uploaded archive.

    Exposes `bucket` and `object` (the BucketObject; `object.name` carries the hash).
    """

    def __init__(self, name: str, args: SourceBundleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sklearn-inference:gcp:SourceBundle", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        archive = build_archive(args.files)
        self.object_name = object_name(args.function_name, archive)
        self.sha256 = hashlib.sha256(archive).hexdigest()
        path = write_archive(archive, args.build_dir, self.object_name)

        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            project=args.project,
            location=args.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # Objects are only ever replaced by new names; old bundles serve no one once the
            # function has built (Cloud Functions keeps its own copy of the source). `make
            # deploy-gcp` refreshes first, so a current bundle past its age is uploaded again.
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        age=args.retention_days
                    ),
                )
            ],
            # Holds only build inputs that `pulumi up` recreates: let destroy empty it.
            force_destroy=True,
            labels={"app": "sklearn-inference", "function": args.function_name},
            opts=child,
        )
        self.object = gcp.storage.BucketObject(
            f"{name}-archive",
            bucket=self.bucket.name,
            name=self.object_name,
            content_type="application/zip",
            source=pulumi.FileAsset(str(path)),
            opts=child,
        )
        self.register_outputs(
            {"bucket": self.bucket.name, "object": self.object.name, "sha256": self.sha256}
        )
