"""The cloud-agnostic core: route a request, predict, shape the answer.

Adapters call `InferenceService.from_env(init_started=...)` once at import and
`handle(method, path, body)` per request; they only translate their platform's event into those
three values and the `Response` back. Nothing here raises to the caller: every failure is a
`Response`.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from handler.errors import (
    MethodNotAllowed,
    ModelUnavailable,
    PayloadTooLarge,
    PredictionFailed,
    RequestError,
    RouteNotFound,
    UnprocessableValues,
    internal_error,
)
from handler.limits import MAX_DERIVED_BODY_BYTES, body_limit
from handler.model import LoadedModel, UnusableProbabilities, load_model
from handler.request import parse_rows
from handler.settings import Settings, SettingsError
from handler.store import Fetched, ModelPrefix, fetch, open_store, pinned
from handler.text import printable

ROUTES = {"/predict": "POST", "/health": "GET"}
# What else each route answers: HEAD where it answers GET (RFC 9110), and OPTIONS with 204 and
# `Allow`. API Gateway forwards a CORS preflight to the function when the route that matches it
# has no authorizer (the usual fix for browsers calling an API whose other routes have one),
# and adds the CORS headers to whatever 2xx the function answers.
EXTRA_METHODS = {"POST": ("OPTIONS",), "GET": ("HEAD", "OPTIONS")}
JSON_HEADERS = {"Content-Type": "application/json"}
# A first request that arrives this long after init did not wait for it: the instance was
# started ahead of traffic (a GCP min instance, or Lambda's proactive initialisation).
COLD_WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any] | None  # None: no content (204)
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON_HEADERS))

    def body_bytes(self) -> bytes:
        if self.body is None:
            return b""
        try:
            return orjson.dumps(self.body)
        except orjson.JSONEncodeError:  # a lone surrogate that slipped past printable()
            return json.dumps(self.body, ensure_ascii=True).encode()

    @classmethod
    def from_error(cls, error: RequestError) -> Response:
        body = {"error": {"code": error.code, "message": error.message}}
        return cls(error.status, body, {**JSON_HEADERS, **error.headers})


@dataclass(frozen=True)
class Outcome:
    """A response plus what the access log needs to know about it."""

    response: Response
    route: str
    rows: int
    cold_start: bool
    # For the adapter's log line when something failed inside: never sent to the caller.
    stack_trace: str | None = None

    @classmethod
    def rejected(cls, error: RequestError, stack_trace: str | None = None) -> Outcome:
        """An answer given before any route was matched (a bad event, an adapter failure)."""
        return cls(Response.from_error(error), "-", 0, cold_start=False, stack_trace=stack_trace)


class InferenceService:
    def __init__(
        self,
        settings: Settings,
        model: LoadedModel | None,
        load_error: str | None = None,
        *,
        load_ms: float = 0.0,
        init_ms: float | None = None,
        fetched: Fetched | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.load_error = load_error
        # A store model's version as verified on local disk (None for an image model).
        self.fetched = fetched
        self.load_ms = load_ms
        # Imports plus model load: what a request that waited on this instance's start paid.
        self.init_ms = load_ms if init_ms is None else init_ms
        self.ready_at = time.monotonic()
        # Pre-initialised instances (provisioned concurrency) never serve a cold request.
        self._cold = not settings.prewarmed
        if settings.max_body_bytes is not None:
            self.max_body_bytes = settings.max_body_bytes
        elif model is not None:
            self.max_body_bytes = body_limit(model.manifest.feature_names, settings.max_batch_rows)
        else:
            self.max_body_bytes = MAX_DERIVED_BODY_BYTES

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, init_started: float | None = None
    ) -> InferenceService:
        """What the adapters call at import: settings from the environment, then the model.

        `init_started` is the `time.perf_counter()` at which the instance's imports began.
        """
        try:
            settings = Settings.from_env(env)
        except SettingsError as exc:
            return cls(Settings(), None, f"invalid settings: {exc}")
        return cls.load(settings, init_started=init_started)

    @classmethod
    def load(cls, settings: Settings, *, init_started: float | None = None) -> InferenceService:
        """Load the model (a store model: fetch and verify its pinned version first), or
        remember why not: the instance then answers 503 to every request."""
        started = time.perf_counter()
        fetched = None
        try:
            model_dir = settings.model_dir
            if settings.model_source == "store":
                fetched = fetch_version(settings)
                model_dir = fetched.directory
            model, error = load_model(model_dir, settings.backend), None
        except Exception as exc:  # fail closed on anything, including a corrupt pickle
            model, error = None, str(exc) or type(exc).__name__
        finished = time.perf_counter()
        return cls(
            settings,
            model,
            error,
            load_ms=(finished - started) * 1000,
            init_ms=None if init_started is None else (finished - init_started) * 1000,
            fetched=fetched,
        )

    def init_report(self) -> dict[str, Any]:
        """The fields of the one init log line."""
        report: dict[str, Any] = {
            "import_ms": round(self.init_ms - self.load_ms, 1),
            "model_loaded_ms": round(self.load_ms, 1),
            "model_loaded": self.model is not None,
            "model_source": self.settings.model_source,
        }
        if self.settings.model_source == "store":
            report["model_store"] = self.settings.model_store
            if self.fetched is not None:
                report["store_version"] = self.fetched.pointer.version
                report["store_fetch_ms"] = round(self.fetched.fetch_ms, 1)
        if self.model is not None:
            manifest = self.model.manifest
            report.update(
                backend=self.model.backend,
                model_name=manifest.name,
                model_version=manifest.version,
                model_sha256=self.model.artifact.sha256[:12],
            )
        else:
            report["error"] = self.load_error
        return report

    def take_cold_start(self) -> bool:
        """True for the first request (or warm-up) this instance serves if it waited on init,
        then False."""
        cold = self._cold and time.monotonic() - self.ready_at < COLD_WINDOW_SECONDS
        self._cold = False
        return cold

    def handle(self, method: str, path: str, body: bytes = b"") -> Outcome:
        cold = self.take_cold_start()
        # Both end up in messages and logs: never let a lone surrogate or a 10 KB path through.
        method, path = printable(method, 16), printable(path, 200)
        prefix = self.settings.route_prefix
        route = _normalise(path)
        # Mounted under a prefix (one API, several models), only paths below it are routes.
        mounted = not prefix or route.startswith(prefix + "/")
        if prefix and mounted:
            route = route[len(prefix) :]
        rows, stack_trace = 0, None
        try:
            allowed = ROUTES.get(route) if mounted else None
            if allowed is None:
                raise RouteNotFound(f"no route for {method} {path}; {self._routes(mounted)}")
            methods = (allowed, *EXTRA_METHODS[allowed])
            if method.upper() not in methods:
                raise MethodNotAllowed(
                    f"{route} accepts {allowed} only, not {method}", allow=", ".join(methods)
                )
            if method.upper() == "OPTIONS":
                return Outcome(Response(204, None, {"Allow": ", ".join(methods)}), route, 0, cold)
            if self.model is None:
                raise ModelUnavailable()
            if route == "/health":
                response = self._health(cold)
            else:
                response, rows = self._predict(body)
        except RequestError as error:
            response = Response.from_error(error)
            if error.__cause__ is not None:
                stack_trace = "".join(traceback.format_exception(error.__cause__))
        except Exception:
            response = Response.from_error(internal_error())
            stack_trace = traceback.format_exc()
        return Outcome(response, route=route, rows=rows, cold_start=cold, stack_trace=stack_trace)

    def _routes(self, mounted: bool) -> str:
        """What the 404 says the API serves: this model's routes, or, for a path outside this
        model's prefix (an API serving several models), every model's route pattern."""
        prefix = self.settings.route_prefix
        if not mounted:
            prefix = prefix.rsplit("/", 1)[0] + "/<model>"
        routes = ", ".join(f"{m} {prefix}{p}" for p, m in ROUTES.items())
        return f"this API serves {routes}"

    def payload_too_large(self) -> PayloadTooLarge:
        # Adapters may read only limit + 1 bytes, so the size is "over", not exact.
        return PayloadTooLarge(
            f"request body is larger than the limit of {self.max_body_bytes} bytes"
        )

    def _health(self, cold: bool) -> Response:
        assert self.model is not None
        manifest = self.model.manifest
        return Response(
            200,
            {
                "status": "ok",
                "model": {
                    "name": manifest.name,
                    "version": manifest.version,
                    "sha256": self.model.artifact.sha256[:12],
                    "backend": self.model.backend,
                    "source": self.settings.model_source,
                },
                "limits": {
                    "max_batch_rows": self.settings.max_batch_rows,
                    "max_body_bytes": self.max_body_bytes,
                },
                "cold_start": cold,
            },
        )

    def _predict(self, body: bytes) -> tuple[Response, int]:
        assert self.model is not None
        if len(body) > self.max_body_bytes:
            raise self.payload_too_large()
        manifest = self.model.manifest
        rows = parse_rows(body, manifest.feature_names, self.settings.max_batch_rows)
        try:
            labels, probabilities = self.model.predict(rows)
        except UnusableProbabilities as exc:
            raise UnprocessableValues(
                f"the model has no finite probabilities for row(s) {_rows(exc.rows)}: values "
                "of this magnitude overflow its arithmetic; send values in the range the model "
                "was trained on"
            ) from None
        except Exception as exc:
            raise PredictionFailed(f"the model failed to predict: {type(exc).__name__}") from exc
        predictions = [
            {"label": label, "probabilities": proba}
            for label, proba in zip(labels, probabilities, strict=True)
        ]
        body_out = {
            "predictions": predictions,
            "classes": list(manifest.class_names),
            "model": {"name": manifest.name, "version": manifest.version},
        }
        return Response(200, body_out), len(predictions)


def fetch_version(settings: Settings) -> Fetched:
    """A store model's pinned version, verified on local disk (handler/store.py)."""
    assert settings.model_store is not None  # Settings.from_env requires it for a store model
    started = time.perf_counter()
    location = ModelPrefix.parse(settings.model_store)
    pin = pinned(settings.model_version, settings.model_sha256)
    fetched = fetch(open_store(location), location, pin, backend=settings.backend)
    # What the store costs a cold start: the adapter's import and client too, not only the GETs.
    return replace(fetched, fetch_ms=(time.perf_counter() - started) * 1000)


def _normalise(path: str) -> str:
    return "/" + path.strip("/") if path else "/"


def _rows(rows: list[int]) -> str:
    shown = ", ".join(map(str, rows[:5]))
    return shown + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def server_timing(handler_ms: float, init_ms: float | None = None) -> str:
    """The `Server-Timing` header (W3C Server Timing): the handler's own time for this request
    and, on the request that waited for the instance to start, the instance's init time."""
    timing = f"handler;dur={handler_ms:.3f}"
    return timing if init_ms is None else f"{timing}, init;dur={init_ms:.1f}"
