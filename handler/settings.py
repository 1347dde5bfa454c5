"""Every setting the handler reads from its environment, read once at the edge.

The adapters build a `Settings` at import and pass explicit values down; nothing below them
reads `os.environ`. The infrastructure (CDK stack, Pulumi program) sets these variables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "artifacts"
BACKENDS = ("auto", "onnx", "joblib")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_MAX_BATCH_ROWS = 1000
SOURCES = ("image", "store")


class SettingsError(ValueError):
    """When an environment variable holds a value the handler cannot use"""


@dataclass(frozen=True)
class Settings:
    model_dir: Path = DEFAULT_MODEL_DIR
    backend: str = "auto"
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    # None: derived from the model's width and the row limit (handler/limits.py).
    max_body_bytes: int | None = None
    log_level: str = "INFO"
    service_name: str = "sklearn-inference"
    metrics_namespace: str = "SklearnInference"
    # Where the routes are mounted when one API serves several models: "/models/iris" makes
    # the routes /models/iris/predict and /models/iris/health. Empty: /predict and /health.
    route_prefix: str = ""
    # Lambda sets AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency on instances it
    # initialises ahead of traffic: no request they serve waits on a cold start.
    prewarmed: bool = False
    # Where the model comes from (handler/store.py): `image`, the artifacts in model_dir, or
    # `store`, the version pinned by model_version and model_sha256 (the pointer as the
    # deployment read it; model_version "current" reads the pointer at start-up instead) in
    # the folder model_store names, s3://<bucket>/models/<name> or gs://...
    model_source: str = "image"
    model_store: str | None = None
    model_version: str | None = None
    model_sha256: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """`MODEL_DIR`, `MODEL_BACKEND` (auto|onnx|joblib), `MAX_BATCH_ROWS`, `MAX_BODY_BYTES`,
        `LOG_LEVEL`, `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`, `ROUTE_PREFIX`,
        `MODEL_SOURCE` (image|store), `MODEL_STORE`, `MODEL_VERSION`, `MODEL_SHA256` and Lambda's
        `AWS_LAMBDA_INITIALIZATION_TYPE`; unset or empty means the default."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        backend = (get("MODEL_BACKEND") or cls.backend).lower()
        if backend not in BACKENDS:
            raise SettingsError(
                f"MODEL_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}"
            )
        route_prefix = (get("ROUTE_PREFIX") or "").rstrip("/")
        if route_prefix and not re.fullmatch(r"(/[A-Za-z0-9_-]+)+", route_prefix):
            raise SettingsError(
                f"ROUTE_PREFIX must look like /models/<name>, got {get('ROUTE_PREFIX')!r}"
            )
        log_level = (get("LOG_LEVEL") or cls.log_level).upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError(
                f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}"
            )
        source = (get("MODEL_SOURCE") or cls.model_source).lower()
        if source not in SOURCES:
            raise SettingsError(f"MODEL_SOURCE must be one of {', '.join(SOURCES)}, got {source!r}")
        if source == "store" and not get("MODEL_STORE"):
            raise SettingsError("MODEL_SOURCE=store needs MODEL_STORE, s3://<bucket>/models/<name>")
        return cls(
            model_dir=Path(get("MODEL_DIR") or DEFAULT_MODEL_DIR),
            backend=backend,
            max_batch_rows=_positive_int(env, "MAX_BATCH_ROWS") or cls.max_batch_rows,
            max_body_bytes=_positive_int(env, "MAX_BODY_BYTES"),
            log_level=log_level,
            service_name=get("POWERTOOLS_SERVICE_NAME") or cls.service_name,
            metrics_namespace=get("POWERTOOLS_METRICS_NAMESPACE") or cls.metrics_namespace,
            route_prefix=route_prefix,
            prewarmed=get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency",
            model_source=source,
            model_store=get("MODEL_STORE"),
            model_version=get("MODEL_VERSION"),
            model_sha256=(get("MODEL_SHA256") or "").lower() or None,
        )


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, got {value}")
    return value
