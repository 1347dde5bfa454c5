"""The functions' source: a private bucket, and in it a deterministic zip per function named by
its content hash (`<function>/source-<sha256>.zip`).

Cloud Functions rebuilds only when `build_config.source.storage_source.object` changes, so the
object name carries the SHA-256 of the archive. The archive (archive.py) holds exactly the
files `handler.bundle.gcf_source_files()` names, so nothing else (caches, tests, this program)
can reach it or change its hash.

What a revision was built from is kept while it matters. A rollback is a traffic change to an
existing revision (release.py) and needs no bundle, but the release tool judges a revision
against the model its own bundle holds, and a bundle is the last resort should a revision's image
be gone. So Pulumi never deletes one (a new bundle replaces the old one in the state only,
`retain_on_delete`), and the bucket's lifecycle rule deletes a bundle `retention_days` after its
`customTime`, which the release tool sets (gcp_release/history.py): to the time of each release
or rollback for the bundles of the serving revision and of the revisions a rollback may return
to, and to the upload time for any other. A bundle it has not stamped yet is never deleted.
With `pinned_object` set (config `sourceObject`, or `sourceObjects.<model>`), the function
serves that earlier bundle and nothing is uploaded for it.
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
    function_name: str  # the stack's: a label on the bucket
    retention_days: int
    protect: bool


@dataclass(frozen=True)
class ArchiveArgs:
    function_name: str
    files: Mapping[str, Path | bytes]
    build_dir: Path
    pinned_object: str | None
    pin_key: str = "sourceObject"  # the config key that pins it


@dataclass(frozen=True)
class Archive:
    """One function's source: `tree_object_name` (the working tree's bundle), its `sha256`,
    `object` (its BucketObject, None when pinned) and `served_object` (what the function
    builds from)."""

    tree_object_name: str
    sha256: str
    object: gcp.storage.BucketObject | None
    served_object: pulumi.Output[str]


class SourceBundle(pulumi.ComponentResource):
    """A private, uniform-access bucket shared by the stack's functions; `add_archive()` puts a
    function's archive in it. Exposes `bucket`."""

    def __init__(
        self, name: str, args: SourceBundleArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("sklearn-inference:gcp:SourceBundle", name, None, opts)
        self._name = name
        self._child = children_of(self, opts)

        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            project=args.project,
            location=args.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # Counted from customTime (see above), bundles only: the release tool's records
            # (releases/*.json) have none. `make deploy-gcp` refreshes first, so the working
            # tree's bundle, if deleted, is uploaded again.
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_custom_time=args.retention_days,
                        matches_suffixes=[".zip"],
                    ),
                )
            ],
            # Holds only build inputs (each bundle is rebuilt from its commit): let destroy
            # empty it. In prod, deletionProtection stops destroy first.
            force_destroy=True,
            labels={"app": "sklearn-inference", "function": args.function_name},
            opts=children_of(self, opts, protect=args.protect),
        )
        self.register_outputs({"bucket": self.bucket.name})

    def add_archive(self, prefix: str, args: ArchiveArgs) -> Archive:
        """Upload one function's archive as `<prefix><component name>-archive` (a child of this
        component), or, when `args.pinned_object` is set, upload nothing and serve that."""
        archive = build_archive(args.files)
        tree_object_name = object_name(args.function_name, archive)
        sha256 = hashlib.sha256(archive).hexdigest()
        if args.pinned_object is not None:
            if args.pinned_object != tree_object_name:
                path_flag = " --path" if "." in args.pin_key else ""
                pulumi.log.warn(
                    f"serving the pinned bundle {args.pinned_object} ({args.pin_key}), not the "
                    f"working tree's {tree_object_name}: `make release-gcp` deploys the tree "
                    f"(or run `pulumi config rm{path_flag} {args.pin_key}`)",
                    resource=self,
                )
            return Archive(
                tree_object_name, sha256, None, pulumi.Output.from_input(args.pinned_object)
            )
        path = write_archive(archive, args.build_dir, tree_object_name)
        uploaded = gcp.storage.BucketObject(
            f"{prefix}{self._name}-archive",
            bucket=self.bucket.name,
            name=tree_object_name,
            content_type="application/zip",
            source=pulumi.FileAsset(str(path)),
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(retain_on_delete=True)
            ),
        )
        return Archive(tree_object_name, sha256, uploaded, uploaded.name)
