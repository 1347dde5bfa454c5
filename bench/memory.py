"""Peak memory one request costs, for the worst bodies up to the body limit, on each adapter.

    python bench/memory.py            # the table (bench/run.py prints it too)
    python bench/memory.py --check    # exit 1 when a request peaks above the goal

Peaks are resident set sizes read from /proc (VmHWM after resetting it through clear_refs), so
they count what the allocator really took, not what Python thinks it holds. glibc keeps freed
blocks resident once a large one has been freed (its mmap threshold moves up), which would hide
a later request's cost behind an earlier one's: the per-request runs pin the threshold
(MALLOC_MMAP_THRESHOLD_) so every large block is mapped and unmapped; the concurrency run uses
the allocator as deployed and reports the worker's absolute peak.
- Lambda: in a fresh process per body, the cost of receiving the event as the runtime interface
  client does (the raw invoke payload, then json.loads), then `lambda_handler`; the body
  base64-encoded, as API Gateway sends it.
- Cloud Functions: one `functions-framework` server (gunicorn, THREADS=8), its worker's peak
  per body, then the GCP defaults' worst case: `concurrency` (8) of the worst body at once,
  against the instance's 512 MiB.
Each body is measured at the default (derived) limit and at 6 MiB (MAX_BODY_BYTES=6291456, the
old default, to show the pre-parse value count bounds memory, not the size limit alone).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_MB = 64.0
GCP_MEMORY_MB = 512.0
GCP_CONCURRENCY = 8
SIX_MIB = 6 * 1024 * 1024
NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def _fill(prefix: bytes, unit: bytes, suffix: bytes, size: int) -> bytes:
    return prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + suffix


# The worst bodies of a given size: many tiny containers (the audit's case), many numbers, one
# huge string, deep nesting, and the largest legal batch (named features, pretty-printed).
BODIES: dict[str, Callable[[int], bytes]] = {
    "two million {}": lambda n: _fill(b'{"features": [', b"{},", b"{}]}", n),
    "numbers [0,0,...]": lambda n: _fill(b'{"features": [', b"0,", b"0]}", n),
    "one long string": lambda n: _fill(b'{"features": "', b"a", b'"}', n),
    "deep nesting": lambda n: b"[" * (n // 2) + b"]" * (n // 2),
    "largest legal batch": lambda n: json.dumps(
        {"instances": [dict.fromkeys(NAMES, -1.2345678901234567e-30)] * 1000}, indent=4
    ).encode(),
}


def _peak_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc")


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc")


def _reset_peak(pid: int | str = "self") -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux 4.0+)


def lambda_probe(kind: str, limit: int | None) -> dict[str, float]:
    """In this fresh process: the peak a Lambda invoke with body `kind` adds."""
    if limit is not None:
        os.environ["MAX_BODY_BYTES"] = str(limit)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the handler's log lines
    sys.path.insert(0, str(ROOT))
    from handler.aws import SERVICE, lambda_handler

    class Context:
        aws_request_id, function_name, function_version = "bench", "bench", "1"

    body = BODIES[kind](SERVICE.max_body_bytes)
    event = {
        "version": "2.0",
        "rawPath": "/predict",
        "requestContext": {"http": {"method": "POST"}, "stage": "$default"},
        "isBase64Encoded": True,
    }
    warm = base64.b64encode(b'{"features": [1, 2, 3, 4]}').decode()
    lambda_handler({**event, "body": warm}, Context())
    payload = json.dumps({**event, "body": base64.b64encode(body).decode()}).encode()
    del body
    before = _rss_mb() - len(payload) / 2**20  # the raw invoke payload counts as the request's
    _reset_peak()
    response = lambda_handler(json.loads(payload), Context())  # as awslambdaric delivers it
    return {"peak_mb": _peak_mb() - before, "status": response["statusCode"], "bytes": len(payload)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`functions-framework` serving main.py, as `make serve` and Cloud Functions run it."""

    def __init__(self, limit: int | None, env: dict[str, str]) -> None:
        self.port = _free_port()
        env = {**os.environ, **env, "THREADS": str(GCP_CONCURRENCY)}
        if limit is not None:
            env["MAX_BODY_BYTES"] = str(limit)
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "functions-framework"),
                *("--source", "main.py", "--target", "predict"),
                *("--host", "127.0.0.1", "--port", str(self.port)),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url("/health"), timeout=2) as r:
                    self.limit = json.loads(r.read())["limits"]["max_body_bytes"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("functions-framework did not start") from None
                time.sleep(0.2)
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        self.worker = int(children.split()[0])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def post(self, body: bytes) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
            return connection.getresponse().status
        finally:
            connection.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def gcp_peaks(limit: int | None) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    server = Server(limit, PINNED_MALLOC)
    try:
        peaks = {}
        for kind, make in BODIES.items():
            body = make(server.limit)
            before = _rss_mb(server.worker)
            _reset_peak(server.worker)
            status = server.post(body)
            peaks[kind] = {"peak_mb": _peak_mb(server.worker) - before, "status": status}
    finally:
        server.stop()
    worst = max(peaks, key=lambda k: peaks[k]["peak_mb"])
    server = Server(limit, {})
    try:
        body = BODIES[worst](server.limit)
        baseline = _rss_mb(server.worker)
        _reset_peak(server.worker)
        threads = [
            threading.Thread(target=server.post, args=(body,)) for _ in range(GCP_CONCURRENCY)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        together = {"body": worst, "baseline_mb": baseline, "peak_mb": _peak_mb(server.worker)}
        return peaks, together
    finally:
        server.stop()


def lambda_peaks(limit: int | None) -> dict[str, dict[str, float]]:
    out = {}
    for kind in BODIES:
        result = subprocess.run(
            [sys.executable, __file__, "--lambda-probe", kind, str(limit or "")],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, **PINNED_MALLOC},
        )
        out[kind] = json.loads(result.stdout.splitlines()[-1])
    return out


def report() -> bool:
    """Print the table; True when every request stays under the goal."""
    ok = True
    print(f"\nPeak memory per request (MB above the instance's resident size; goal <= {GOAL_MB:g})")
    for label, limit in (("default limit", None), ("MAX_BODY_BYTES=6 MiB", SIX_MIB)):
        aws = lambda_peaks(limit)
        gcp, together = gcp_peaks(limit)
        print(f"\n  {label}:{'':25}{'lambda':>10}{'status':>8}{'cloud fn':>10}{'status':>8}")
        for kind in BODIES:
            a, g = aws[kind], gcp[kind]
            worst = max(a["peak_mb"], g["peak_mb"])
            ok &= worst <= GOAL_MB
            print(
                f"  {kind:40}{a['peak_mb']:10.1f}{a['status']:8.0f}{g['peak_mb']:10.1f}"
                f"{g['status']:8.0f}  {'met ' if worst <= GOAL_MB else 'MISS'}"
            )
        headroom = 1 - together["peak_mb"] / GCP_MEMORY_MB
        ok &= headroom >= 0.25
        print(
            f"  Cloud Functions defaults, {GCP_CONCURRENCY} x '{together['body']}' at once: worker "
            f"{together['baseline_mb']:.0f} MB idle, {together['peak_mb']:.0f} MB peak of "
            f"{GCP_MEMORY_MB:.0f} MiB ({headroom:.0%} headroom; goal >= 25%)"
        )
    return ok


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--lambda-probe":
        kind, limit = sys.argv[2], sys.argv[3]
        result = lambda_probe(kind, int(limit) if limit else None)
        sys.__stdout__.write(json.dumps(result) + "\n")
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    met = report()
    sys.exit(1 if parser.parse_args().check and not met else 0)
