"""Google Cloud Functions (2nd gen) adapter: a functions-framework HTTP function over the core.

A function URL has no route of its own, so `POST /` predicts; `/predict` and `/health` work as
on AWS. Logs are JSON lines on stdout, which Cloud Logging parses into structured entries
(`severity` and `message` are its special fields).
"""

from __future__ import annotations

import time
import traceback
import uuid
from typing import Any

import flask
import functions_framework

from handler import IMPORT_STARTED
from handler.errors import internal_error
from handler.logs import access_record, write_json_line
from handler.service import InferenceService, Outcome

SERVICE = InferenceService.from_env()
SETTINGS = SERVICE.settings


def _log(severity: str, message: str, **fields: Any) -> None:
    write_json_line(
        {"severity": severity, "message": message, "service": SETTINGS.service_name, **fields}
    )


_init = SERVICE.init_report((time.perf_counter() - IMPORT_STARTED) * 1000 - SERVICE.load_ms)
if SERVICE.model is None:
    _log("ERROR", "init failed: the model is unavailable, every request answers 503", **_init)
else:
    _log("INFO", "init", **_init)


@functions_framework.http
def predict(request: flask.Request) -> tuple[bytes, int, dict[str, str]]:
    started = time.perf_counter()
    try:
        # The function URL itself is the predict route (so GET / is a 405, not a 404).
        path = "/predict" if request.path in ("", "/") else request.path
        # One byte past the limit is enough to know the body is too large; never read more.
        body = request.stream.read(SETTINGS.max_body_bytes + 1)
        outcome = SERVICE.handle(request.method, path, body)
    except Exception:  # nothing escapes to the framework (it would answer an HTML 500)
        outcome = Outcome.rejected(internal_error(), traceback.format_exc())
    response = outcome.response
    _log(
        "ERROR" if response.status >= 500 else "INFO",
        "request",
        **access_record(
            outcome,
            request_id=_request_id(request),
            latency_ms=(time.perf_counter() - started) * 1000,
        ),
    )
    return response.body_bytes(), response.status, response.headers


def _request_id(request: flask.Request) -> str:
    # Cloud Run's trace header ("TRACE_ID/SPAN;o=1") ties this line to the request log entry.
    trace = request.headers.get("X-Cloud-Trace-Context", "")
    return trace.split("/", 1)[0] or uuid.uuid4().hex
