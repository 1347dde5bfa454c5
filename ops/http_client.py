"""A small HTTP client over the standard library: one keep-alive connection per client, the
response's status, headers and body, and the time from sending to the last body byte.

Not thread-safe by design: the probe gives each worker its own client (its own connection),
as separate callers would have.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ops.auth import NO_AUTH, RequestAuth
from ops.errors import CannotRun

USER_AGENT = "sklearn-inference-ops"
# A kept-alive connection the server has meanwhile closed fails on first use; one fresh retry.
_STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_TLS = ssl.create_default_context()


class Unreachable(CannotRun):
    """When a request gets no HTTP answer at all (refused, unknown host, timeout, TLS)"""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    elapsed_ms: float

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error_code(self) -> str | None:
        """`error.code` of the handler's JSON error body, if that is what this is."""
        body = self.json()
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, str) else None

    def brief(self, limit: int = 120) -> str:
        """Status and the handler's error code, else the start of the body, for a detail."""
        code = self.error_code()
        if code is not None:
            return f"{self.status} {code}"
        text = self.body[:limit].decode("utf-8", "replace").replace("\n", " ")
        return f"{self.status} {text}{'...' if len(self.body) > limit else ''}"


def normalise_base_url(url: str) -> str:
    """`url` without a trailing slash, or CannotRun when it is not an http(s) URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CannotRun(f"not an http(s) URL: {url!r}")
    if parts.query or parts.fragment:
        raise CannotRun(f"the base URL must have no query or fragment: {url!r}")
    return url.strip().rstrip("/")


class HttpClient:
    def __init__(
        self,
        base_url: str,
        *,
        auth: RequestAuth = NO_AUTH,
        timeout: float = 30.0,
        retry_throttled: int = 0,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._base_path = parts.path
        self.auth = auth
        self.timeout = timeout
        # A 429 is the gateway's throttle (API Gateway stage limits), not the target's answer:
        # callers that judge answers may wait and ask again, up to this many times.
        self.retry_throttled = retry_throttled
        self.throttled = 0  # how many 429s were waited out
        self._connection: http.client.HTTPConnection | None = None
        self._used = False

    def url(self, path: str) -> str:
        return self.base_url + path

    def request(
        self, method: str, path: str, body: bytes = b"", *, content_type: str | None = None
    ) -> HttpResponse:
        for retry in range(self.retry_throttled + 1):
            response = self._request(method, path, body, content_type)
            if response.status != 429 or retry == self.retry_throttled:
                return response
            self.throttled += 1
            time.sleep(_backoff(response, retry))
        raise AssertionError("unreachable")  # the loop returns

    def _request(
        self, method: str, path: str, body: bytes, content_type: str | None
    ) -> HttpResponse:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        headers.update(self.auth.headers(method, self.url(path), body, headers))
        for attempt in (1, 2):
            reused = self._connection is not None and self._used
            try:
                return self._send(method, self._base_path + path, body, headers)
            except _STALE_CONNECTION as exc:
                self.close()
                if attempt == 2 or not reused:
                    raise self._unreachable(method, path, _reason(exc, self.timeout)) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise self._unreachable(method, path, _reason(exc, self.timeout)) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _send(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> HttpResponse:
        connection = self._open()
        started = time.perf_counter()
        connection.request(method, target or "/", body=body or None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._used = True
        if response.will_close:
            self.close()
        names = {name.lower() for name in response.headers}
        merged = {name: ", ".join(response.headers.get_all(name) or []) for name in names}
        return HttpResponse(response.status, merged, data, elapsed_ms)

    def connect(self) -> None:
        """Open the connection now (TCP and TLS), so the first request does not pay for it."""
        try:
            self._open().connect()
        except OSError as exc:
            self.close()
            raise self._unreachable("CONNECT", "", _reason(exc, self.timeout)) from None

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._https:
                self._connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout, context=_TLS
                )
            else:
                self._connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout
                )
            self._used = False
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _unreachable(self, method: str, path: str, reason: str) -> Unreachable:
        where = f"{method} {self.url(path)}" if method != "CONNECT" else self.base_url
        return Unreachable(f"cannot reach {where}: {reason}")

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _backoff(response: HttpResponse, retry: int) -> float:
    """Seconds to wait after a 429: its Retry-After (up to 5 s), else 0.25 s doubling."""
    try:
        return min(float(response.header("Retry-After") or "x"), 5.0)
    except ValueError:
        return 0.25 * 2.0**retry


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    return str(exc) or type(exc).__name__
