"""Bounded load: at most `requests` requests from `concurrency` workers, none sent after
`duration_s`, and with `rate` none sooner than its slot (request i at i / rate seconds); each
answer (or failure) becomes a `Sample`.

Every worker has its own connection, opened before its first request is timed, so TCP and TLS
set-up do not count as the target's latency. The whole run ends within `duration_s` plus one
request timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ops.http_client import HttpClient, Unreachable
from ops.latency import Sample
from ops.server_timing import ServerTiming


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    content_type: str | None = "application/json"


def run_load(
    make_client: Callable[[], HttpClient],
    request: Request,
    *,
    requests: int,
    concurrency: int,
    duration_s: float,
    rate: float | None = None,
) -> list[Sample]:
    started = time.monotonic()
    deadline = started + duration_s
    lock = threading.Lock()
    sent = 0
    samples: list[Sample] = []

    def claim() -> float | None:
        """Take the next request's slot, waiting for it when paced: its offset from the start,
        or None when no request is left to send."""
        nonlocal sent
        with lock:
            now = time.monotonic()
            if sent >= requests or now >= deadline:
                return None
            due = max(now, started + sent / rate) if rate else now
            sent += 1
        if due >= deadline:
            return None
        time.sleep(max(0.0, due - time.monotonic()))
        return due - started

    def worker() -> None:
        with make_client() as client:
            try:
                client.connect()
            except Unreachable as exc:
                offset = claim()  # the request it would have sent is the one that failed
                if offset is not None:
                    _record(samples, lock, _failed(offset, str(exc)))
                return
            while (offset := claim()) is not None:
                try:
                    response = client.request(
                        request.method,
                        request.path,
                        request.body,
                        content_type=request.content_type,
                    )
                except Unreachable as exc:
                    _record(samples, lock, _failed(offset, str(exc)))
                    continue
                timing = ServerTiming.from_header(response.header("Server-Timing"))
                sample = Sample(
                    offset_s=offset,
                    client_ms=response.elapsed_ms,
                    status=response.status,
                    handler_ms=timing.handler_ms,
                    init_ms=timing.init_ms,
                )
                _record(samples, lock, sample)

    threads = [
        threading.Thread(target=worker, name=f"probe-{i}", daemon=True)
        for i in range(min(concurrency, requests))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(samples, key=lambda s: s.offset_s)


def _record(samples: list[Sample], lock: threading.Lock, sample: Sample) -> None:
    with lock:
        samples.append(sample)


def _failed(offset: float, error: str) -> Sample:
    return Sample(offset, None, None, None, None, error=error)
