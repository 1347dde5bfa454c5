"""The function's source: a private bucket and a deterministic zip named by its content hash.

Cloud Functions rebuilds only when `build_config.source.storage_source.object` changes, so the
object name carries the SHA-256 of the archive. The archive (archive.py) holds exactly the
files `handler.bundle.gcf_source_files()` names, so nothing else (caches, tests, this program)
can reach it or change its hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
from archive import build_archive, object_name, write_archive
from options import children_of

import pulumi_gcp as gcp


@dataclass(frozen=True)
class SourceBundleArgs:
    project: str
    region: str
    function_name: str
    files: Mapping[str, Path]
    build_dir: Path
    retention_days: int
    protect: bool


class SourceBundle(pulumi.ComponentResource):
    """A private, uniform-access bucket and the uploaded archive.

    Exposes `bucket` and `object` (the BucketObject; `object.name` carries the hash).
    """

    def __init__(
        self, name: str, args: SourceBundleArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("sklearn-inference:gcp:SourceBundle", name, None, opts)
        child = children_of(self, opts)

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
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=args.retention_days),
                )
            ],
            # Holds only build inputs that `pulumi up` recreates: let destroy empty it.
            force_destroy=True,
            labels={"app": "sklearn-inference", "function": args.function_name},
            opts=children_of(self, opts, protect=args.protect),
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
