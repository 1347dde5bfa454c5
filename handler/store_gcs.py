"""The model store on Google Cloud Storage (google-cloud-storage, which a store model's Cloud
Function installs: handler/runtime.py adds it to the requirements).

Conditional writes use generation preconditions: `ifGenerationMatch=0` creates an object only
if none exists, `ifGenerationMatch=<generation>` replaces it only if it is still that
generation; GCS answers 412 Precondition Failed otherwise. The client honours
`STORAGE_EMULATOR_HOST` (a local GCS in tests and benchmarks).
"""

from __future__ import annotations

from typing import Any

from handler.store import StoreConflict, StoreError, StoreNotFound

# A cold start waits for these: (connect, read) seconds per attempt, and retries (the library's
# own rules: connection errors, 429, 5xx) end after RETRY_SECONDS, not its default 120.
TIMEOUT = (3.0, 10.0)
RETRY_SECONDS = 10.0


class GcsStore:
    def __init__(self, bucket: str, client: Any = None, retry_seconds: float | None = None) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.retry = DEFAULT_RETRY.with_timeout(retry_seconds or RETRY_SECONDS)
        self.bucket_name = bucket
        if client is None:
            from google.cloud import storage

            try:
                client = storage.Client()
            except Exception as exc:
                raise _store_error(exc, self.describe()) from None
        self.client = client
        self.bucket = client.bucket(bucket)

    def describe(self, key: str = "") -> str:
        return f"gs://{self.bucket_name}/{key}"

    def read(self, key: str) -> bytes:
        try:
            data: bytes = self.bucket.blob(key).download_as_bytes(timeout=TIMEOUT, retry=self.retry)
        except Exception as exc:
            raise _store_error(exc, self.describe(key)) from None
        return data

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            blob = self.bucket.get_blob(key, timeout=TIMEOUT, retry=self.retry)
            if blob is None:
                return None
            # The bytes of exactly the generation whose number is returned.
            data = blob.download_as_bytes(
                if_generation_match=blob.generation, timeout=TIMEOUT, retry=self.retry
            )
        except Exception as exc:
            raise _store_error(exc, self.describe(key)) from None
        return data, str(blob.generation)

    def create(self, key: str, data: bytes, content_type: str) -> None:
        self._upload(key, data, content_type, 0)

    def replace(self, key: str, data: bytes, content_type: str, token: str | None) -> None:
        self._upload(key, data, content_type, 0 if token is None else int(token))

    def _upload(self, key: str, data: bytes, content_type: str, generation: int) -> None:
        try:
            # Retried too: with a generation precondition a repeated upload cannot overwrite.
            self.bucket.blob(key).upload_from_string(
                data,
                content_type=content_type,
                if_generation_match=generation,
                timeout=TIMEOUT,
                retry=self.retry,
            )
        except Exception as exc:
            raise _store_error(exc, self.describe(key)) from None


def _store_error(exc: Exception, where: str) -> Exception:
    """google-api-core's, google-auth's and the transport's errors as the store's."""
    from google.api_core import exceptions
    from google.auth.exceptions import GoogleAuthError

    if isinstance(exc, exceptions.NotFound):
        return StoreNotFound(f"{where}: not found")
    if isinstance(exc, exceptions.PreconditionFailed):
        return StoreConflict(f"{where}: precondition failed")
    if isinstance(exc, exceptions.GoogleAPICallError):
        return StoreError(f"GCS refused {where}: {exc.code} {exc.message}")
    if isinstance(exc, (exceptions.GoogleAPIError, GoogleAuthError, OSError)):
        # requests' ConnectionError and Timeout are OSErrors; RetryError a GoogleAPIError.
        return StoreError(f"cannot reach {where}: {type(exc).__name__}: {exc}")
    return exc
