"""The stack's bucket (google-cloud-storage): the release record of each function, the
manifest inside a bundle, and the customTime stamps the lifecycle rule counts from.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .history import Event

RECORD_PREFIX = "releases/"
MANIFEST_IN_BUNDLE = "model/artifacts/manifest.json"


class StaleRecord(Exception):
    """When the release record changed between the tool's read and its write"""


class Bucket:
    """`client` is a `storage.Client` (or anything with its `bucket()`)."""

    def __init__(self, client: Any, bucket: str):
        self.bucket = client.bucket(bucket)

    def record(self, function: str) -> tuple[list[Event], int]:
        """The function's events and the record's generation (0: there is none yet)."""
        blob = self.bucket.get_blob(f"{RECORD_PREFIX}{function}.json")
        if blob is None:
            return [], 0
        data = json.loads(blob.download_as_bytes())
        return [Event.from_json(e) for e in data.get("events", [])], int(blob.generation)

    def append(self, function: str, events: Sequence[Event], generation: int) -> None:
        """Write `events` over the record read at `generation` (refused if it moved since)."""
        from google.api_core.exceptions import PreconditionFailed

        blob = self.bucket.blob(f"{RECORD_PREFIX}{function}.json")
        body = json.dumps({"events": [e.to_json() for e in events]}, indent=1)
        try:
            blob.upload_from_string(
                body, content_type="application/json", if_generation_match=generation
            )
        except PreconditionFailed:
            raise StaleRecord(
                f"gs://{self.bucket.name}/{blob.name} changed while the tool ran: someone else "
                "released or rolled back at the same time"
            ) from None

    def manifest(self, bundle: str) -> dict[str, Any] | None:
        """The model manifest inside a bundle; None when the bundle is gone."""
        blob = self.bucket.get_blob(bundle)
        if blob is None:
            return None
        with zipfile.ZipFile(io.BytesIO(blob.download_as_bytes())) as archive:
            manifest: dict[str, Any] = json.loads(archive.read(MANIFEST_IN_BUNDLE))
            return manifest

    def stamp(self, function: str, keep: set[str], now: datetime) -> None:
        """customTime = now on the bundles in `keep`; = upload time on any other bundle of the
        function that has none yet, so it expires from its upload (source_bundle.py)."""
        for blob in self.bucket.list_blobs(prefix=f"{function}/source-"):
            when = now if blob.name in keep else blob.time_created
            if blob.custom_time is not None and (blob.name not in keep or blob.custom_time >= when):
                continue  # customTime only moves forward
            blob.custom_time = when
            blob.patch()
