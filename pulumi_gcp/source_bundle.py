"""The function's source: a private bucket and a deterministic zip named by its content hash.

Cloud Functions rebuilds only when `build_config.source.storage_source.object` changes, so the
object name carries the SHA-256 of the archive. The archive (archive.py) holds exactly the
files `handler.bundle.gcf_source_files()` names, so nothing else (caches, tests, this program)
can reach it or change its hash.

Earlier bundles are what a rollback serves again (release.py), so Pulumi never deletes one: a
new bundle replaces the old one in the state only (`retain_on_delete`), and the bucket's
lifecycle rule deletes bundles `retention_days` after their upload. With `pinned_object` set
(config `sourceObject`), the function serves that earlier bundle and nothing is uploaded.
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
    files: Mapping[str, Path | bytes]
    build_dir: Path
    retention_days: int
    protect: bool
    pinned_object: str | None


class SourceBundle(pulumi.ComponentResource):
    """A private, uniform-access bucket and the working tree's archive.

    Exposes `bucket`, `tree_object_name` (the working tree's bundle), `object` (its
    BucketObject, None when pinned) and `served_object` (what the function builds from).
    """

    def __init__(
        self, name: str, args: SourceBundleArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("sklearn-inference:gcp:SourceBundle", name, None, opts)
        child = children_of(self, opts)

        archive = build_archive(args.files)
        self.tree_object_name = object_name(args.function_name, archive)
        self.sha256 = hashlib.sha256(archive).hexdigest()

        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            project=args.project,
            location=args.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # Cloud Functions keeps its own copy of the source it built, so a deleted bundle
            # only ends the chance to roll back to it. `make deploy-gcp` refreshes first, so the
            # working tree's bundle, if past its age, is uploaded again.
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=args.retention_days),
                )
            ],
            # Holds only build inputs (each bundle is rebuilt from its commit): let destroy
            # empty it. In prod, deletionProtection stops destroy first.
            force_destroy=True,
            labels={"app": "sklearn-inference", "function": args.function_name},
            opts=children_of(self, opts, protect=args.protect),
        )
        self.object: gcp.storage.BucketObject | None = None
        if args.pinned_object is None:
            path = write_archive(archive, args.build_dir, self.tree_object_name)
            self.object = gcp.storage.BucketObject(
                f"{name}-archive",
                bucket=self.bucket.name,
                name=self.tree_object_name,
                content_type="application/zip",
                source=pulumi.FileAsset(str(path)),
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(retain_on_delete=True)
                ),
            )
            self.served_object: pulumi.Output[str] = self.object.name
        else:
            self.served_object = pulumi.Output.from_input(args.pinned_object)
            if args.pinned_object != self.tree_object_name:
                pulumi.log.warn(
                    f"serving the pinned bundle {args.pinned_object} (sourceObject), not the "
                    f"working tree's {self.tree_object_name}: `make release-gcp` deploys the "
                    "tree (or run `pulumi config rm sourceObject`)",
                    resource=self,
                )
        self.register_outputs(
            {"bucket": self.bucket.name, "served": self.served_object, "sha256": self.sha256}
        )
