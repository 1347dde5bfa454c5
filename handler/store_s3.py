"""The model store on Amazon S3 (boto3, which the Lambda Python runtime already includes).

Conditional writes are S3's own: `If-None-Match: *` creates an object only if the key is free,
`If-Match: <ETag>` replaces it only if nobody has since (S3 answers 412 Precondition Failed, or
409 ConditionalRequestConflict to a write racing another on the same key). The endpoint follows
boto3's configuration, `AWS_ENDPOINT_URL_S3` included (a local S3 in tests and benchmarks).
"""

from __future__ import annotations

from typing import Any

from handler.store import StoreConflict, StoreError, StoreNotFound

# A cold start waits for these: fail in seconds, with one retry, rather than hang the init.
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 10
NOT_FOUND = ("NoSuchKey", "404", "NotFound")
CONFLICT = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


class S3Store:
    def __init__(self, bucket: str, client: Any = None) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=CONNECT_TIMEOUT_S,
                read_timeout=READ_TIMEOUT_S,
                retries={"max_attempts": 2, "mode": "standard"},
            )
            client = boto3.client("s3", config=config)
        self.bucket, self.client = bucket, client

    def describe(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def read(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise _store_error(exc, self.describe(key)) from None
        return body

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=key)
            return found["Body"].read(), str(found["ETag"])
        except Exception as exc:
            error = _store_error(exc, self.describe(key))
            if isinstance(error, StoreNotFound):
                return None
            raise error from None

    def create(self, key: str, data: bytes, content_type: str) -> None:
        self._put(key, data, content_type, IfNoneMatch="*")

    def replace(self, key: str, data: bytes, content_type: str, token: str | None) -> None:
        if token is None:
            self._put(key, data, content_type, IfNoneMatch="*")
        else:
            self._put(key, data, content_type, IfMatch=token)

    def _put(self, key: str, data: bytes, content_type: str, **condition: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **condition
            )
        except Exception as exc:
            raise _store_error(exc, self.describe(key)) from None


def _store_error(exc: Exception, where: str) -> Exception:
    """botocore's error as the store's, naming the object; anything else unchanged."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        error_code = str(error.get("Code", ""))
        message = f"{where}: {error_code} {error.get('Message', '')}".strip()
        if error_code in NOT_FOUND:
            return StoreNotFound(message)
        if error_code in CONFLICT:
            return StoreConflict(message)
        return StoreError(f"S3 refused {message}")
    if isinstance(exc, BotoCoreError):
        return StoreError(f"cannot reach {where}: {exc}")
    return exc
