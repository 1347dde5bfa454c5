"""AWS Lambda adapter: API Gateway HTTP API (payload 2.0), REST API (1.0) proxy events and
Function URLs in, the core's `Response` out; plus two direct invokes that are not HTTP:
`{"warmup": true}` (keeps an environment initialised) and `{"healthcheck": true}` (a scheduled
probe that publishes the `HealthCheck` metric).

Routing is by path and method, never by `routeKey` (it is `$default` on catch-all routes).
Every request writes one JSON line; metrics ride on it in CloudWatch's embedded metric format.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
import traceback
from typing import Any

from handler import IMPORT_STARTED
from handler.errors import InvalidInput, RequestError, internal_error
from handler.logs import JsonLog, access_record
from handler.metrics import COLD_START, HEALTH_CHECK, SERVER_ERRORS, Metric, embedded
from handler.service import InferenceService, Outcome, server_timing

SERVICE = InferenceService.from_env(init_started=IMPORT_STARTED)
SETTINGS = SERVICE.settings
log = JsonLog(level_key="level", threshold=SETTINGS.log_level, service=SETTINGS.service_name)
log.init(SERVICE)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    if isinstance(event, dict) and "requestContext" not in event:
        if event.get("warmup") is True:
            return _warmup(context)
        if event.get("healthcheck") is True:
            return _healthcheck(context)
    try:
        method, path, body = http_request(event)
        outcome = SERVICE.handle(method, path, body)
    except RequestError as error:
        outcome = Outcome.rejected(error)
    except Exception:  # nothing escapes to the Lambda runtime
        outcome = Outcome.rejected(internal_error(), traceback.format_exc())
    response = outcome.response
    handler_ms = (time.perf_counter() - started) * 1000

    metrics: dict[Metric, float] = {}
    if outcome.cold_start:
        metrics[COLD_START] = 1
    if response.status >= 500:
        metrics[SERVER_ERRORS] = 1
    log.write(
        "ERROR" if response.status >= 500 else "INFO",
        "request",
        **_function_fields(context),
        **access_record(
            outcome,
            request_id=getattr(context, "aws_request_id", "-"),
            latency_ms=handler_ms,
        ),
        xray_trace_id=os.environ.get("_X_AMZN_TRACE_ID"),
        **(embedded(SETTINGS.metrics_namespace, metrics) if metrics else {}),
    )
    timing = server_timing(handler_ms, SERVICE.init_ms if outcome.cold_start else None)
    return {
        "statusCode": response.status,
        "headers": {**response.headers, "Server-Timing": timing},
        "body": response.body_bytes().decode(),
        "isBase64Encoded": False,
    }


def _warmup(context: Any) -> dict[str, Any]:
    """A scheduled or scripted direct invoke that only keeps this instance initialised."""
    cold = SERVICE.take_cold_start()
    if cold:
        metrics = embedded(SETTINGS.metrics_namespace, {COLD_START: 1})
        log.write("INFO", "warmup", **_function_fields(context), **metrics)
    return {"warmup": "ok", "cold_start": cold, "model_loaded": SERVICE.model is not None}


def _healthcheck(context: Any) -> dict[str, Any]:
    """A scheduled invoke of the `live` alias: the HealthCheck metric it publishes keeps a
    signal flowing when no traffic does, so its alarm can treat a missing point as an outage."""
    healthy = SERVICE.model is not None
    # An environment the check started waited on its init: that is its cold start, not the
    # next request's.
    metrics: dict[Metric, float] = {HEALTH_CHECK: 1 if healthy else 0}
    if SERVICE.take_cold_start():
        metrics[COLD_START] = 1
    log.write(
        "INFO" if healthy else "ERROR",
        "healthcheck",
        **_function_fields(context),
        healthy=healthy,
        **embedded(SETTINGS.metrics_namespace, metrics),
    )
    answer: dict[str, Any] = {"healthy": healthy}
    if SERVICE.model is not None:
        manifest = SERVICE.model.manifest
        answer["model"] = {
            "name": manifest.name,
            "version": manifest.version,
            "sha256": SERVICE.model.artifact.sha256[:12],
            "backend": SERVICE.model.backend,
            "source": SETTINGS.model_source,
        }
    return answer


def _function_fields(context: Any) -> dict[str, str]:
    # The metrics' dimensions: the bare function name (no alias) and the version that ran.
    return {
        "function_name": getattr(context, "function_name", "-"),
        "function_version": getattr(context, "function_version", "$LATEST"),
    }


def http_request(event: Any) -> tuple[str, str, bytes]:
    """Method, path (stage prefix removed) and raw body bytes of an HTTP event."""
    not_http = InvalidInput(
        "the event is not an API Gateway or Function URL request", code="invalid_event"
    )
    if not isinstance(event, dict):
        raise not_http
    context = event.get("requestContext")
    context = context if isinstance(context, dict) else {}
    http = context.get("http")
    if isinstance(http, dict) and "method" in http:  # payload 2.0: HTTP API, Function URL
        method, path = http["method"], event.get("rawPath") or http.get("path") or "/"
    elif "httpMethod" in event:  # payload 1.0: REST API, HTTP API 1.0
        method, path = event["httpMethod"], event.get("path") or "/"
    else:
        raise not_http
    if not isinstance(method, str) or not isinstance(path, str):
        raise not_http

    # A named HTTP API stage prefixes rawPath with its name; $default and REST paths do not.
    stage = context.get("stage")
    if isinstance(stage, str) and stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]
    return method, path, _body_bytes(event)


def _body_bytes(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise InvalidInput("the event body is not a string", code="invalid_event")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "the body is marked base64-encoded but is not valid base64", code="invalid_body"
            ) from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("request body is not valid UTF-8 text", code="invalid_json") from None
