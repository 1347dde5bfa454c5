"""Google Cloud Functions (2nd gen) adapter: a functions-framework HTTP function over the core.

A function URL has no route of its own, so `POST /` predicts; `/predict` and `/health` work as
on AWS. Logs are JSON lines on stdout, which Cloud Logging parses into structured entries
(`severity` and `message` are its special fields).

functions-framework answers some requests before a function sees them: an HTML 404 for
`/favicon.ico` and `/robots.txt`, an HTML 308 redirect for `//predict//`. `main.py` calls
`answer_every_path()`, which makes `predict` a `before_request` hook of the app being built, so
every request, whatever its path, gets the core's JSON answer.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import uuid

import flask
import functions_framework
from werkzeug.exceptions import ClientDisconnected

from handler import IMPORT_STARTED
from handler.errors import BodyTimeout, RequestError, UnreadableBody, internal_error
from handler.logs import JsonLog, access_record
from handler.service import InferenceService, Outcome, server_timing

# A stalled upload may hold a worker thread this long, then gets a 408. gunicorn's own timeout
# does not reach a thread blocked in a read; Cloud Run's request timeout is the outer bound.
BODY_IDLE_SECONDS = 10.0

SERVICE: InferenceService | None = None
log = JsonLog(level_key="severity", threshold="INFO", service="sklearn-inference")


def start() -> InferenceService:
    """Load the model once per process and write the init line; later calls return it."""
    global SERVICE, log
    if SERVICE is None:
        SERVICE = InferenceService.from_env(init_started=IMPORT_STARTED)
        settings = SERVICE.settings
        log = JsonLog(
            level_key="severity", threshold=settings.log_level, service=settings.service_name
        )
        log.init(SERVICE)
    return SERVICE


# The functions-framework command (Cloud Functions, `make serve`) imports this module in
# gunicorn's master process, then forks the worker that serves. ONNX Runtime is not fork-safe:
# its import starts a thread, and a worker that inherits that state, or a session, hangs or
# aborts at exit ("terminate called after throwing ... std::system_error: Invalid argument" on
# SIGTERM). So under that command the master never loads the model; each worker loads it right
# after it is forked, before it accepts a connection. Anywhere else (tests, Flask's debug
# server) the model loads now, or at the latest on the first request.
if "functions_framework._cli" in sys.modules:
    os.register_at_fork(after_in_child=start)
else:
    start()


@functions_framework.http
def predict(request: flask.Request) -> flask.Response:
    started = time.perf_counter()
    service = start()
    unread_body = False
    try:
        # The function URL itself is the predict route (so GET / is a 405, not a 404).
        path = "/predict" if request.path in ("", "/") else request.path
        declared = request.content_length
        if declared is not None and declared > service.max_body_bytes:
            # Refused on its Content-Length, before a byte of the body is read.
            outcome, unread_body = Outcome.rejected(service.payload_too_large()), True
        else:
            # One byte past the limit is enough to know the body is too large; never read more.
            body = _read_body(request, service.max_body_bytes + 1)
            unread_body = len(body) > service.max_body_bytes
            outcome = service.handle(request.method, path, body)
    except RequestError as error:
        outcome, unread_body = Outcome.rejected(error), True
    except Exception:  # nothing escapes to the framework (it would answer an HTML 500)
        outcome = Outcome.rejected(internal_error(), traceback.format_exc())
    response = outcome.response
    handler_ms = (time.perf_counter() - started) * 1000
    log.write(
        "ERROR" if response.status >= 500 else "INFO",
        "request",
        **access_record(outcome, request_id=_request_id(request), latency_ms=handler_ms),
    )
    headers = {
        **response.headers,
        "Server-Timing": server_timing(handler_ms, service.init_ms if outcome.cold_start else None),
    }
    body_bytes = response.body_bytes()
    # functions-framework reads whatever body is left once a response is returned
    # (`read_request`, into memory, 200 MiB and all) unless the response is streamed; gunicorn
    # then discards the rest with a deadline and a byte cap, or closes the connection.
    content = iter([body_bytes]) if unread_body else body_bytes
    answer = flask.Response(content, status=response.status, headers=headers)
    if response.body is None:
        del answer.headers["Content-Type"]  # Flask's default text/html; a 204 has no content
    return answer


def _read_body(request: flask.Request, size: int) -> bytes:
    """At most `size` bytes of the body, giving up when the client goes quiet."""
    sock = request.environ.get("gunicorn.socket")  # absent under Flask's own servers
    previous = sock.gettimeout() if sock is not None else None
    if sock is not None:
        sock.settimeout(BODY_IDLE_SECONDS)
    try:
        return request.stream.read(size)
    except Exception as exc:  # whatever breaks a read of the client's bytes is the client's
        # gunicorn's stream raises the socket's own errors; Werkzeug's wraps them.
        cause = exc.__context__ if isinstance(exc, ClientDisconnected) else exc
        if isinstance(cause, TimeoutError):
            raise BodyTimeout(
                f"no part of the request body arrived for {BODY_IDLE_SECONDS:g} s"
            ) from None
        raise UnreadableBody(
            "the request body could not be read to its end: the client disconnected, or "
            f"sent a malformed body encoding ({type(exc).__name__})"
        ) from None
    finally:
        if sock is not None:
            sock.settimeout(previous)


def _request_id(request: flask.Request) -> str:
    # Cloud Run's trace header ("TRACE_ID/SPAN;o=1") ties this line to the request log entry.
    trace = request.headers.get("X-Cloud-Trace-Context", "")
    return trace.split("/", 1)[0] or uuid.uuid4().hex


def answer_every_path() -> None:
    """Register `predict` on the Flask app functions-framework is building (it executes
    main.py inside that app's context): a before-request hook runs before Flask's routing
    result is used, so its redirects and its own 404 pages never answer."""
    if flask.has_app_context():
        flask.current_app.before_request(lambda: predict(flask.request))
