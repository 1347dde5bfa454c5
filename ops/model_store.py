"""Publish and promote model versions in a stack's model store: `make publish-model` and
`make promote` (docs/operate.md, "Model store").

    python -m ops.model_store publish --model wine --stack SklearnInference-prod
    python -m ops.model_store promote --model wine --version 1.1.0 --stack SklearnInference-prod
    python -m ops.model_store promote --model wine --version 1.1.0 --pulumi-stack prod
    python -m ops.model_store publish --model wine --store s3://<bucket>   # any store, by URI

publish  uploads the model's trained artifacts/ (models.toml) as version <manifest version>:
         every artifact the manifest lists, the golden reference, then the manifest, each with
         the store's create-only precondition (S3 If-None-Match: *, GCS ifGenerationMatch=0).
         A model whose artifacts fail their manifest, or whose reference is stale, is refused;
         so is a version already published with other bytes (versions are immutable: bump
         the version and retrain). Publishing the same bytes again changes nothing.
promote  checks the version in the store (its manifest, every artifact's SHA-256, its
         reference), then moves the model's pointer, current.json, with a compare-and-swap (S3
         If-Match on the ETag read, GCS ifGenerationMatch on the generation read): a promotion
         that raced another fails and changes nothing. It prints the pointer before and after
         and records both in the store (models/<name>/promotions/). Rolling back is promoting
         the previous version.

A promotion moves the pointer only. Serving instances pick the version up through the release
path: the next deploy (`make deploy-aws`, `make release-gcp`, or CI's deploy) reads the pointer,
pins the version in the function's configuration, and releases it through the same gates as a
code change. Needed: write access to the store's `models/<name>/` prefix; no infrastructure
permissions.

Exit status: 0 done, 1 refused (a conflict, a failed verification), 2 could not run.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handler.manifest import MANIFEST_FILE, Manifest, ManifestError, verify_artifacts
from handler.store import (
    POINTER_FILE,
    REFERENCE_FILE,
    VERSION,
    ModelPrefix,
    ObjectStore,
    Pointer,
    StoreConflict,
    StoreError,
    StoreNotFound,
    model_prefix,
    sha256_hex,
)
from ops.errors import CannotRun
from ops.reference import Reference, ReferenceError, load_reference

EXIT_DONE, EXIT_REFUSED, EXIT_CANNOT_RUN = 0, 1, 2
# The CloudFormation output and the Pulumi stack output that name a stack's model store bucket.
AWS_OUTPUT = "ModelStoreBucket"
GCP_OUTPUT = "model_store_bucket"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"


class Refused(Exception):
    """When the store must not take the change: it would break immutability or lose a race, or
    the version does not verify. Exit status 1."""


@dataclass(frozen=True)
class Published:
    version: str
    sha256: str  # the manifest's: what a pointer to this version names
    uploaded: tuple[str, ...]  # keys written now (empty: it was all there already)


def publish(store: ObjectStore, name: str, artifacts: Path) -> Published:
    """Upload `artifacts` (a trained model's folder) as its manifest's version of model `name`."""
    try:
        manifest = verify_artifacts(artifacts)
        load_reference(artifacts)  # the same name, version and hashes as the manifest
    except (ManifestError, ReferenceError) as exc:
        raise Refused(f"not publishing {artifacts}: {exc}") from None
    if not VERSION.fullmatch(manifest.version):
        raise Refused(f"manifest version {manifest.version!r} cannot name a store version")
    location = _location(name)
    files = [
        *(artifact.path for artifact in manifest.artifacts.values()),
        artifacts / REFERENCE_FILE,
        artifacts / MANIFEST_FILE,  # last: a version is complete once its manifest is there
    ]
    uploaded = []
    for path in files:
        key = location.version_key(manifest.version, path.name)
        data = path.read_bytes()
        content_type = JSON_TYPE if path.suffix == ".json" else BINARY_TYPE
        try:
            store.create(key, data, content_type)
            uploaded.append(key)
        except StoreConflict:
            if store.read(key) != data:
                raise Refused(
                    f"{store.describe(key)} already exists with other bytes: version "
                    f"{manifest.version} of {name} is published and immutable; bump the "
                    "version (its train.py's ModelSpec) and retrain"
                ) from None
    manifest_bytes = (artifacts / MANIFEST_FILE).read_bytes()
    return Published(manifest.version, sha256_hex(manifest_bytes), tuple(uploaded))


@dataclass(frozen=True)
class Promotion:
    name: str
    before: Pointer | None
    after: Pointer
    record: str | None  # the key of the promotion's record (None: nothing changed)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def to_json(self) -> dict[str, Any]:
        def pointer(p: Pointer | None) -> dict[str, str] | None:
            return None if p is None else {"version": p.version, "sha256": p.sha256}

        return {
            "model": self.name,
            "before": pointer(self.before),
            "after": pointer(self.after),
            "changed": self.changed,
            "record": self.record,
        }


def promote(
    store: ObjectStore,
    name: str,
    version: str,
    *,
    actor: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Promotion:
    """Point model `name` at `version` once it verifies, by compare-and-swap."""
    location = _location(name)
    after = Pointer(version, verify_version(store, location, version).sha256)
    found = store.read_versioned(location.pointer_key)
    before = None if found is None else Pointer.parse(found[0], store.describe(POINTER_FILE))
    if before == after:
        return Promotion(name, before, after, None)
    when = now().strftime("%Y-%m-%dT%H:%M:%SZ")
    actor = actor or _actor()
    pointer = {
        "version": after.version,
        "sha256": after.sha256,
        "promoted_at": when,
        "promoted_by": actor,
        "previous": None
        if before is None
        else {"version": before.version, "sha256": before.sha256},
    }
    try:
        store.replace(
            location.pointer_key,
            json.dumps(pointer, indent=2).encode(),
            JSON_TYPE,
            None if found is None else found[1],
        )
    except StoreConflict:
        raise Refused(
            f"{store.describe(location.pointer_key)} changed while this promotion ran (another "
            "promotion?): nothing was changed; read the pointer and run it again"
        ) from None
    record_key = f"{location.prefix}/promotions/{when.replace(':', '')}-{version}.json"
    record = {
        "model": name,
        "at": when,
        "by": actor,
        "before": pointer["previous"],
        "after": {"version": after.version, "sha256": after.sha256},
    }
    try:
        store.create(record_key, json.dumps(record, indent=2).encode(), JSON_TYPE)
    except StoreConflict:  # two promotions in one second: the pointer's history still has both
        record_key = ""
    return Promotion(name, before, after, record_key or None)


@dataclass(frozen=True)
class StoredVersion:
    sha256: str  # of its manifest.json
    manifest: Manifest
    reference: Reference


def verify_version(store: ObjectStore, location: ModelPrefix, version: str) -> StoredVersion:
    """Download a published version and check it as an instance would, and its reference:
    Refused when it is missing, incomplete or altered."""
    with tempfile.TemporaryDirectory(prefix="model-store-") as scratch:
        folder = Path(scratch)
        try:
            manifest_bytes = store.read(location.version_key(version, MANIFEST_FILE))
            (folder / MANIFEST_FILE).write_bytes(manifest_bytes)
            manifest = Manifest.load(folder)
            for artifact in manifest.artifacts.values():
                key = location.version_key(version, artifact.path.name)
                artifact.path.write_bytes(store.read(key))
            (folder / REFERENCE_FILE).write_bytes(
                store.read(location.version_key(version, REFERENCE_FILE))
            )
            verify_artifacts(folder)
            reference = load_reference(folder)
        except StoreNotFound as exc:
            raise Refused(f"version {version} is not (completely) published: {exc}") from None
        except (ManifestError, ReferenceError) as exc:
            raise Refused(
                f"version {version} in {store.describe()} does not verify: {exc}"
            ) from None
    return StoredVersion(sha256_hex(manifest_bytes), manifest, reference)


@dataclass(frozen=True)
class Pointed:
    """What a store model's deployment should serve: the version its pointer names, verified."""

    uri: str
    pointer: Pointer
    version: StoredVersion


def pointed_version(uri: str, session: Any = None) -> Pointed:
    """The version the pointer of the model folder `uri` names (s3://<bucket>/models/<name>),
    downloaded and verified, read with `session` (boto3) on S3; CannotRun when there is none."""
    from handler.store import read_pointer as pointer_at

    location = ModelPrefix.parse(uri)
    if location.scheme == "s3":
        from handler.store_s3 import S3Store

        client = session.client("s3") if session is not None else None
        store: ObjectStore = S3Store(location.bucket, client)
    else:
        from handler.store_gcs import GcsStore

        store = GcsStore(location.bucket)
    try:
        pointer = pointer_at(store, location)
        stored = verify_version(store, location, pointer.version)
    except (StoreError, Refused) as exc:
        raise CannotRun(f"the model store has nothing to compare with: {exc}") from None
    if stored.sha256 != pointer.sha256:
        raise CannotRun(
            f"{store.describe(location.pointer_key)} names version {pointer.version} with "
            f"manifest sha256 {pointer.sha256[:12]}, but the stored manifest's is "
            f"{stored.sha256[:12]}: the store was altered"
        )
    return Pointed(uri, pointer, stored)


def read_pointer(store: ObjectStore, name: str) -> Pointer | None:
    """Model `name`'s pointer, or None when nothing was ever promoted."""
    location = _location(name)
    found = store.read_versioned(location.pointer_key)
    return None if found is None else Pointer.parse(found[0], store.describe(location.pointer_key))


def stack_pointers(
    session: Any, stack_name: str, names: Sequence[str]
) -> dict[str, Pointer | None]:
    """What the deploy of an AWS stack pins: each store model's pointer as it is now, read from
    the deployed stack's store; None for a model with no pointer yet, or every model when the
    stack or its store does not exist yet (its first deploy). Any other failure raises: a deploy
    that cannot read the pointer must not unpin the model."""
    from botocore.exceptions import ClientError

    from handler.store_s3 import S3Store

    try:
        found = session.client("cloudformation").describe_stacks(StackName=stack_name)
    except ClientError as exc:
        if "does not exist" in str(exc):
            return dict.fromkeys(names)
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found["Stacks"][0].get("Outputs", [])}
    if AWS_OUTPUT not in outputs:
        return dict.fromkeys(names)
    store = S3Store(outputs[AWS_OUTPUT], session.client("s3"))
    return {name: read_pointer(store, name) for name in names}


def _location(name: str) -> ModelPrefix:
    """Model `name`'s keys in a bucket (the bucket is the store's)."""
    return ModelPrefix("", "", model_prefix(name))


def _actor() -> str:
    for variable in ("GITHUB_ACTOR", "USER", "USERNAME"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# --- where the store is -------------------------------------------------------------------


def store_at(uri: str) -> ObjectStore:
    """`s3://<bucket>` or `gs://<bucket>`: the store's adapter with the default credentials."""
    scheme, _, bucket = uri.partition("://")
    if scheme not in ("s3", "gs") or not bucket.strip("/") or "/" in bucket.strip("/"):
        raise CannotRun(f"--store takes s3://<bucket> or gs://<bucket>, got {uri!r}")
    if scheme == "s3":
        from handler.store_s3 import S3Store

        return S3Store(bucket.strip("/"))
    from handler.store_gcs import GcsStore

    return GcsStore(bucket.strip("/"))


def locate(args: argparse.Namespace, session_factory: Callable[..., Any]) -> ObjectStore:
    """The store of --store, --stack (its ModelStoreBucket output) or --pulumi-stack."""
    if args.store:
        return store_at(args.store)
    if args.stack:
        from handler.store_s3 import S3Store
        from ops.aws import credentials, describe_stack

        session = session_factory(profile=args.profile, region=args.region)
        credentials(session)
        stack = describe_stack(session, args.stack)
        bucket = stack.outputs.get(AWS_OUTPUT)
        if not bucket:
            raise CannotRun(
                f"stack {args.stack} has no {AWS_OUTPUT} output: it serves no store model "
                '(models.toml source = "store") or was deployed before it did'
            )
        return S3Store(bucket, session.client("s3"))
    from handler.store_gcs import GcsStore
    from ops.gcp import pulumi_stack_outputs

    bucket = pulumi_stack_outputs(args.pulumi_stack).get(GCP_OUTPUT)
    if not isinstance(bucket, str) or not bucket:
        raise CannotRun(
            f"Pulumi stack {args.pulumi_stack} has no {GCP_OUTPUT} output: it serves no store "
            'model (models.toml source = "store") or was deployed before it did'
        )
    return GcsStore(bucket)


# --- the command line -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from ops.cli import OneLineErrorParser

    parser = OneLineErrorParser(
        prog="model_store", description="Publish and promote model versions in a model store."
    )
    parser.add_argument("command", choices=("publish", "promote"))
    parser.add_argument("--model", required=True, metavar="NAME", help="a model of models.toml")
    parser.add_argument("--version", metavar="V", help="promote: the version to point at")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", metavar="NAME", help="AWS: the CloudFormation stack")
    where.add_argument("--pulumi-stack", metavar="NAME", help="GCP: the Pulumi stack")
    where.add_argument("--store", metavar="URI", help="s3://<bucket> or gs://<bucket>")
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(
    argv: Sequence[str] | None = None, *, session_factory: Callable[..., Any] | None = None
) -> int:
    from model.catalog import CatalogError
    from model.catalog import load as load_catalog
    from ops.aws import aws_session, describe_aws_error

    args = build_parser().parse_args(argv)
    try:
        entry = load_catalog().get(args.model)
        if args.command == "promote" and not args.version:
            raise CannotRun("promote needs --version (make promote MODEL=... VERSION=...)")
        store = locate(args, session_factory or aws_session)
        if not entry.store:
            print(
                f"model_store: note: models.toml serves {entry.name} from its image; deploys pin "
                f'this store\'s pointer once its table says source = "store"',
                file=sys.stderr,
            )
        if args.command == "publish":
            published = publish(store, entry.name, entry.artifacts)
            _report_publish(store, entry.name, published, args.json)
        else:
            _report_promotion(store, promote(store, entry.name, args.version), args.json)
        return EXIT_DONE
    except Refused as exc:
        message, status = str(exc), EXIT_REFUSED
    except (CannotRun, CatalogError, StoreError) as exc:
        message, status = str(exc), EXIT_CANNOT_RUN
    except Exception as exc:
        described = describe_aws_error(exc)
        if described is None:
            raise
        message, status = described, EXIT_CANNOT_RUN
    print(f"model_store: error: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps({"error": message, "exit_code": status}))
    return status


def _report_publish(store: ObjectStore, name: str, published: Published, as_json: bool) -> None:
    where = store.describe(_location(name).version_key(published.version))
    if as_json:
        print(
            json.dumps(
                {
                    "model": name,
                    "version": published.version,
                    "sha256": published.sha256,
                    "location": where,
                    "uploaded": list(published.uploaded),
                }
            )
        )
        return
    if published.uploaded:
        print(f"{name}: published version {published.version} at {where}")
        for key in published.uploaded:
            print(f"  + {key}")
    else:
        print(f"{name}: version {published.version} was already published, byte for byte: {where}")
    print(f"  manifest sha256 {published.sha256}")
    print(f"Next: make promote MODEL={name} VERSION={published.version} (same target)")


def _report_promotion(store: ObjectStore, promotion: Promotion, as_json: bool) -> None:
    if as_json:
        print(json.dumps(promotion.to_json()))
        return
    name, before, after = promotion.name, promotion.before, promotion.after
    shown = before.version if before else "(none)"
    if not promotion.changed:
        print(f"{name}: the pointer already names version {after.version}: nothing changed")
        return
    print(f"{name}: pointer {shown} -> {after.version} (manifest sha256 {after.sha256[:12]})")
    print(f"  recorded at {store.describe(promotion.record or '')}")
    print(
        "Serving instances move only through a release: the next deploy (make deploy-aws, "
        "make release-gcp, or CI's) pins this version, checks it against its own reference "
        "and canaries it."
    )
    if before is not None:
        print(f"To roll back: make promote MODEL={name} VERSION={before.version}")


if __name__ == "__main__":
    sys.exit(main())
