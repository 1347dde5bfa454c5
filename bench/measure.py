"""One benchmark run of one handler in this (fresh) process; prints one JSON line of results.

    python bench/measure.py naive|onnx|joblib

Run by bench/run.py, one process per variant, so "cold init" really is a cold interpreter.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = [5.1, 3.5, 1.4, 0.2]
WARM_CALLS = int(os.environ.get("BENCH_WARM_CALLS", "3000"))
BATCH_CALLS = int(os.environ.get("BENCH_BATCH_CALLS", "30"))


class Context:
    aws_request_id = "bench"
    function_name = "bench"


def http_event(body: dict) -> dict:
    # The shape API Gateway HTTP API (payload 2.0) delivers, with a plain-text body.
    return {
        "version": "2.0",
        "rawPath": "/predict",
        "requestContext": {"http": {"method": "POST", "path": "/predict"}, "stage": "$default"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def main(variant: str) -> None:
    results = os.fdopen(os.dup(1), "w")
    # The handlers log every request to stdout; keep that I/O out of the terminal, as on Lambda.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    os.dup2(sys.stdout.fileno(), 1)
    sys.path.insert(0, str(ROOT))
    if variant != "naive":
        os.environ["MODEL_BACKEND"] = variant

    started = time.perf_counter()
    runtime_imports_ms = 0.0
    if variant == "onnx":
        # What no handler serving ONNX can start without, timed on its own (the handler's own
        # imports find them loaded, so the total below is unchanged).
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401

        runtime_imports_ms = (time.perf_counter() - started) * 1000
    if variant == "naive":
        from bench.naive_handler import lambda_handler
    else:
        from handler.aws import lambda_handler
    cold_init_ms = (time.perf_counter() - started) * 1000

    single, batch = http_event({"features": ROW}), http_event({"features": [ROW] * 1000})
    ctx = Context()
    started = time.perf_counter()
    first = lambda_handler(single, ctx)
    first_ms = (time.perf_counter() - started) * 1000
    assert first["statusCode"] == 200, first

    timings = []
    for _ in range(WARM_CALLS):
        t = time.perf_counter()
        lambda_handler(single, ctx)
        timings.append(time.perf_counter() - t)
    timings.sort()
    batch_timings = []
    for _ in range(BATCH_CALLS):
        t = time.perf_counter()
        response = lambda_handler(batch, ctx)
        batch_timings.append(time.perf_counter() - t)
    assert response["statusCode"] == 200

    results.write(
        json.dumps(
            {
                "variant": variant,
                "cold_init_ms": cold_init_ms,
                "first_request_ms": first_ms,
                # What a cold caller waits for: the joblib handler front-loads scikit-learn's
                # lazy imports into init (its self-check), the naive one into its first request.
                "cold_start_ms": cold_init_ms + first_ms,
                "runtime_imports_ms": runtime_imports_ms,
                "warm_p50_us": timings[len(timings) // 2] * 1e6,
                "warm_p99_us": timings[int(len(timings) * 0.99)] * 1e6,
                "batch_1000_ms": statistics.median(batch_timings) * 1000,
            }
        )
        + "\n"
    )


if __name__ == "__main__":
    main(sys.argv[1])
