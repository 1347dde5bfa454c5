"""The model store: immutable model versions in object storage, and the pointer that names one.

    <store>/models/<name>/versions/<version>/manifest.json, model.onnx, ..., reference.json
    <store>/models/<name>/current.json     {"version": "1.1.0", "sha256": "<manifest SHA-256>"}

A version folder is written once (`make publish-model`, with the store's create-only
precondition) and never changed; `current.json` is the one object that moves (`make promote`,
a compare-and-swap). The pointer's `sha256` is the SHA-256 of the version's manifest.json, and
the manifest holds every artifact's SHA-256: one hash anchors the whole version.

Where the truth lives (docs/operate.md, "Model store"): the pointer says which version serves.
A deployment reads it when it deploys (the CDK app at synth, the Pulumi program at `pulumi up`)
and pins what it read in the function's configuration, `MODEL_VERSION` and `MODEL_SHA256`, so
that a promotion changes the configuration, publishes a new Lambda version or Cloud Run revision,
and reaches callers only through the release gates. An instance loads exactly the version its
configuration pins: one that read the live pointer at start-up would pick up a promotion on its
next cold start with no gate at all. `MODEL_VERSION=current` reads the pointer at start-up
instead: for local serving against a store, never set by a deployment.

At start-up (`fetch`), before anything is deserialised: the manifest must hash to the pinned
SHA-256, and the artifact to the manifest's; they are kept in /tmp for the instance's lifetime.
A missing pointer, a missing object, a hash mismatch or a store that cannot be reached raises
`StoreError`, and the instance fails closed (503, the reason in its init log line).

The core knows no cloud: `ObjectStore` is the interface, `handler.store_s3` (boto3) and
`handler.store_gcs` (google-cloud-storage) the adapters, imported only for a store URI of their
scheme, so an image model never imports either.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from handler.manifest import MANIFEST_FILE, Manifest

POINTER_FILE = "current.json"
REFERENCE_FILE = "reference.json"
VERSIONS = "versions"
# MODEL_VERSION's value that reads the pointer at start-up instead of a pinned version.
FOLLOW_POINTER = "current"
# A version is a path segment of every object key and a Lambda environment value: keep it plain.
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
URI = re.compile(r"(s3|gs)://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])/([A-Za-z0-9._/-]+)")
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "model-store"


class StoreError(RuntimeError):
    """When the model store cannot provide a verified version: the instance fails closed"""


class StoreNotFound(StoreError):
    """When an object the store should hold is not there"""


class StoreConflict(StoreError):
    """When a conditional write loses: the object exists, or changed since it was read"""


class ObjectStore(Protocol):
    """What the store needs of a bucket. Keys are relative to the bucket."""

    def describe(self, key: str = "") -> str:
        """`s3://bucket/key` or `gs://bucket/key`, for messages."""
        ...

    def read(self, key: str) -> bytes:
        """The object's bytes; StoreNotFound when absent, StoreError when unreachable."""
        ...

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and the token a conditional replace needs (S3 ETag, GCS
        generation); None when absent."""
        ...

    def create(self, key: str, data: bytes, content_type: str) -> None:
        """Write only if no object has the key (S3 If-None-Match: *, GCS ifGenerationMatch=0);
        StoreConflict otherwise."""
        ...

    def replace(self, key: str, data: bytes, content_type: str, token: str | None) -> None:
        """Write only if the object is still the one read with `token` (S3 If-Match, GCS
        ifGenerationMatch), or, with None, only if there is none; StoreConflict otherwise."""
        ...


@dataclass(frozen=True)
class Pointer:
    """Which version serves: its name and the SHA-256 of its manifest.json."""

    version: str
    sha256: str

    def __post_init__(self) -> None:
        if not VERSION.fullmatch(self.version):
            raise StoreError(f"{self.version!r} is not a model version (letters, digits, ._+-)")
        if not SHA256.fullmatch(self.sha256):
            raise StoreError(f"{self.sha256!r} is not a SHA-256 (64 lowercase hex digits)")

    @classmethod
    def parse(cls, data: bytes, where: str) -> Pointer:
        try:
            raw = json.loads(data)
            return cls(str(raw["version"]), str(raw["sha256"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{where} is not a pointer ({{version, sha256}}): {exc!r}") from None


@dataclass(frozen=True)
class ModelPrefix:
    """One model's folder in a store: `s3://bucket/models/iris` -> bucket and `models/iris`."""

    scheme: str
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> ModelPrefix:
        match = URI.fullmatch(uri)
        if match is None:
            raise StoreError(
                f"MODEL_STORE must look like s3://<bucket>/models/<name> or gs://..., got {uri!r}"
            )
        return cls(match.group(1), match.group(2), match.group(3).strip("/"))

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}"

    @property
    def pointer_key(self) -> str:
        return f"{self.prefix}/{POINTER_FILE}"

    def version_key(self, version: str, file: str = "") -> str:
        return f"{self.prefix}/{VERSIONS}/{version}/{file}"


def model_prefix(name: str) -> str:
    """Where a model's versions and pointer live in its stack's bucket."""
    return f"models/{name}"


def open_store(location: ModelPrefix) -> ObjectStore:
    """The adapter for the location's scheme (imported only now: boto3 or google-cloud-storage)."""
    if location.scheme == "s3":
        from handler.store_s3 import S3Store

        return S3Store(location.bucket)
    from handler.store_gcs import GcsStore

    return GcsStore(location.bucket)


def read_pointer(store: ObjectStore, location: ModelPrefix) -> Pointer:
    where = store.describe(location.pointer_key)
    try:
        data = store.read(location.pointer_key)
    except StoreNotFound:
        raise StoreNotFound(
            f"no pointer at {where}: no version of this model has been promoted "
            "(make publish-model, then make promote)"
        ) from None
    return Pointer.parse(data, where)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Fetched:
    """A version verified and written to local disk, ready for `handler.model.load_model`."""

    directory: Path
    pointer: Pointer
    location: ModelPrefix
    fetch_ms: float


def fetch(
    store: ObjectStore,
    location: ModelPrefix,
    pin: Pointer | None,
    *,
    backend: str = "auto",
    cache: Path | None = None,
    clock: Any = time.perf_counter,
) -> Fetched:
    """Download the pinned version (or the one the pointer names, when `pin` is None) into
    `cache` (default DEFAULT_CACHE, in /tmp), checking the manifest against the pin and the
    artifact against the manifest."""
    from handler.model import choose_backend  # numpy: only once the store has answered

    started = clock()
    pointer = pin or read_pointer(store, location)
    version = pointer.version
    manifest_bytes = _read(store, location.version_key(version, MANIFEST_FILE), version)
    actual = sha256_hex(manifest_bytes)
    if actual != pointer.sha256:
        raise StoreError(
            f"{store.describe(location.version_key(version, MANIFEST_FILE))} does not match the "
            f"pinned SHA-256 (sha256 {actual[:12]}; expected {pointer.sha256[:12]}): "
            "refusing to load it"
        )
    directory = (cache or DEFAULT_CACHE) / location.bucket / location.prefix / version
    shutil.rmtree(directory, ignore_errors=True)  # whatever an earlier, failed init left
    directory.mkdir(parents=True)
    (directory / MANIFEST_FILE).write_bytes(manifest_bytes)
    manifest = Manifest.load(directory)
    artifact = manifest.artifacts[choose_backend(manifest, backend)]
    if artifact.path.parent != directory:
        raise StoreError(f"version {version}'s manifest names an artifact outside its folder")
    data = _read(store, location.version_key(version, artifact.path.name), version)
    digest = sha256_hex(data)
    if len(data) != artifact.size or digest != artifact.sha256:
        raise StoreError(
            f"{store.describe(location.version_key(version, artifact.path.name))} does not match "
            f"its manifest (sha256 {digest[:12]}, {len(data)} bytes; expected "
            f"{artifact.sha256[:12]}, {artifact.size} bytes): refusing to load it"
        )
    artifact.path.write_bytes(data)
    return Fetched(directory, pointer, location, (clock() - started) * 1000)


def _read(store: ObjectStore, key: str, version: str) -> bytes:
    try:
        return store.read(key)
    except StoreNotFound:
        raise StoreNotFound(
            f"{store.describe(key)} does not exist: version {version} was never published, "
            "or is incomplete"
        ) from None


def pinned(version: str | None, sha256: str | None) -> Pointer | None:
    """The pin a deployment set (MODEL_VERSION, MODEL_SHA256); None for MODEL_VERSION=current,
    which reads the pointer instead. Without a pin an instance fails closed rather than follow
    the live pointer ungated."""
    if version is None:
        raise StoreError(
            "MODEL_VERSION is not set: a store model's deployment pins the version its pointer "
            f"names (MODEL_VERSION, MODEL_SHA256); MODEL_VERSION={FOLLOW_POINTER} follows the "
            "pointer instead, for local serving"
        )
    if version == FOLLOW_POINTER:
        return None
    if sha256 is None:
        raise StoreError(f"MODEL_VERSION={version} needs MODEL_SHA256, its manifest's SHA-256")
    return Pointer(version, sha256)


def reference_key(name: str, version: str) -> str:
    """Where version `version` of model `name` keeps its golden reference, in its bucket."""
    return f"{model_prefix(name)}/{VERSIONS}/{version}/{REFERENCE_FILE}"


def deployment_environment(uri: str, pointer: Pointer) -> dict[str, str]:
    """What a deployment sets for a store model (read by handler/settings.py): where its
    folder is, and the version its pointer named when it deployed, with its manifest's SHA-256.
    (A store model whose pointer does not exist yet is deployed from its image instead.)"""
    return {
        "MODEL_SOURCE": "store",
        "MODEL_STORE": uri,
        "MODEL_VERSION": pointer.version,
        "MODEL_SHA256": pointer.sha256,
    }
