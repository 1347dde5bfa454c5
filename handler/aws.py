"""AWS Lambda adapter: API Gateway HTTP API (payload 2.0), REST API (1.0) proxy events and
Function URLs in, the core's `Response` out; plus a fast answer to `{"warmup": true}` invokes.

Routing is by path and method, never by `routeKey` (it is `$default` on catch-all routes).
Powertools writes the init and error logs and the EMF cold-start metric; the core knows neither.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
import traceback
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from handler import IMPORT_STARTED
from handler.errors import InvalidInput, RequestError, internal_error
from handler.logs import access_record, write_json_line
from handler.service import InferenceService, Outcome

SERVICE = InferenceService.from_env()
SETTINGS = SERVICE.settings
logger = Logger(service=SETTINGS.service_name, level=SETTINGS.log_level)

_init = SERVICE.init_report((time.perf_counter() - IMPORT_STARTED) * 1000 - SERVICE.load_ms)
if SERVICE.model is None:
    logger.error("init failed: the model is unavailable, every request answers 503", extra=_init)
else:
    logger.info("init", extra=_init)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    if isinstance(event, dict) and event.get("warmup") is True and "requestContext" not in event:
        return _warmup(context)
    try:
        method, path, body = http_request(event)
        outcome = SERVICE.handle(method, path, body)
    except RequestError as error:
        outcome = Outcome.rejected(error)
    except Exception:  # nothing escapes to the Lambda runtime
        outcome = Outcome.rejected(internal_error(), traceback.format_exc())
    if outcome.cold_start:
        _emit_cold_start_metric(context)
    response = outcome.response
    write_json_line(
        {
            "level": "ERROR" if response.status >= 500 else "INFO",
            "message": "request",
            "service": SETTINGS.service_name,
            **access_record(
                outcome,
                request_id=getattr(context, "aws_request_id", "-"),
                latency_ms=(time.perf_counter() - started) * 1000,
            ),
            "xray_trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        }
    )
    return {
        "statusCode": response.status,
        "headers": response.headers,
        "body": response.body_bytes().decode(),
        "isBase64Encoded": False,
    }


def _warmup(context: Any) -> dict[str, Any]:
    """A scheduled or scripted direct invoke that only keeps this instance initialised."""
    cold = SERVICE.take_cold_start()
    if cold:
        _emit_cold_start_metric(context)
    return {"warmup": "ok", "cold_start": cold, "model_loaded": SERVICE.model is not None}


def _emit_cold_start_metric(context: Any) -> None:
    # The EMF record Powertools' `capture_cold_start_metric` writes, driven by the core's cold
    # flag (warm-up invokes count; provisioned instances never do) and without flushing an empty
    # metric set on every warm invoke.
    with single_metric(
        name="ColdStart", unit=MetricUnit.Count, value=1, namespace=SETTINGS.metrics_namespace
    ) as metric:
        metric.add_dimension(name="function_name", value=getattr(context, "function_name", "-"))
        metric.add_dimension(name="service", value=SETTINGS.service_name)


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
