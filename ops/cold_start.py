"""Force cold starts on AWS and read their cost from CloudWatch Logs (`probe --force-cold N`).

Each round changes a no-op environment variable of the unqualified function, waits for the
update, and invokes `$LATEST` once: a configuration change retires every execution environment
of `$LATEST`, so that invoke initialises a new one. The original environment is put back
afterwards, even on failure or Ctrl-C. Only `$LATEST` is touched: the `live` alias, the
versions it points at and their provisioned concurrency never change. Lambda's REPORT line for
each invoke then gives `Init Duration`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ops.errors import CannotRun
from ops.lambda_report import LambdaReport, parse_report
from ops.latency import Sample
from ops.server_timing import ServerTiming

NOOP_VARIABLE = "OPS_PROBE_COLD_START"  # the handler reads no such variable
# The waiter polls every 2 s, for at most 2 minutes per configuration update.
_WAIT = {"Delay": 2, "MaxAttempts": 60}
LOG_WAIT_S = 90.0  # REPORT lines usually land in CloudWatch Logs within seconds
LOG_POLL_S = 3.0
LOG_EVENTS_PER_REQUEST = 200  # START, the handler's lines, END, REPORT: a handful


@dataclass(frozen=True)
class ForcedColdStart:
    request_id: str
    sample: Sample
    report: LambdaReport | None  # None when its REPORT line did not arrive in time

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "client_ms": self.sample.client_ms,
            "status": self.sample.status,
            "server_timing_init_ms": self.sample.init_ms,
            "report": self.report.to_json() if self.report else None,
        }


def http_api_event(method: str, path: str, body: bytes) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the API would send for this request."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1"},
            "stage": "$default",
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def force_cold_starts(
    session: Any,
    *,
    function_name: str,
    log_group: str,
    count: int,
    event: dict[str, Any],
    timeout: float,
    progress: Callable[[str], None] = lambda line: None,
    log_wait_s: float = LOG_WAIT_S,
) -> list[ForcedColdStart]:
    from botocore.config import Config

    control = session.client("lambda")
    # No retries on the invoke: a retry would land on the now-warm environment.
    invoker = session.client(
        "lambda", config=Config(retries={"total_max_attempts": 1}, read_timeout=timeout + 5)
    )
    control.get_waiter("function_updated_v2").wait(FunctionName=function_name, WaiterConfig=_WAIT)
    original = control.get_function_configuration(FunctionName=function_name)
    environment = original.get("Environment", {})
    if "Error" in environment:
        raise CannotRun(
            f"cannot read the environment of {function_name} ({environment['Error']}); "
            "refusing to change it"
        )
    variables = dict(environment.get("Variables", {}))
    started = time.time()
    invoked: list[tuple[str, Sample]] = []
    try:
        for n in range(1, count + 1):
            nonce = f"{n}-{uuid.uuid4().hex[:8]}"
            _set_environment(control, function_name, {**variables, NOOP_VARIABLE: nonce})
            invoked.append(_invoke(invoker, function_name, event, started))
            progress(f"forced cold start {n}/{count}: {invoked[-1][1].client_ms:.0f} ms")
    finally:
        _restore(control, function_name, variables)
    reports = _reports(session, log_group, [rid for rid, _ in invoked], started, log_wait_s)
    return [ForcedColdStart(rid, sample, reports.get(rid)) for rid, sample in invoked]


def _set_environment(client: Any, function_name: str, variables: dict[str, str]) -> None:
    client.update_function_configuration(
        FunctionName=function_name, Environment={"Variables": variables}
    )
    client.get_waiter("function_updated_v2").wait(FunctionName=function_name, WaiterConfig=_WAIT)


def _restore(client: Any, function_name: str, variables: dict[str, str]) -> None:
    try:
        _set_environment(client, function_name, variables)
    except Exception as exc:
        raise CannotRun(
            f"could not restore the environment of {function_name} ({exc}); it still holds "
            f"{NOOP_VARIABLE}, which the handler ignores: remove it in the console or redeploy"
        ) from None


def _invoke(
    client: Any, function_name: str, event: dict[str, Any], started: float
) -> tuple[str, Sample]:
    payload = json.dumps(event).encode()
    offset = time.time() - started
    sent = time.perf_counter()
    response = client.invoke(FunctionName=function_name, Qualifier="$LATEST", Payload=payload)
    body = response["Payload"].read()
    elapsed_ms = (time.perf_counter() - sent) * 1000
    request_id = response["ResponseMetadata"]["RequestId"]
    status = handler_ms = init_ms = error = None
    if "FunctionError" in response:
        error = f"the function failed ({response['FunctionError']}): {body[:200]!r}"
    else:
        try:
            answer = json.loads(body)
            headers = {k.lower(): v for k, v in answer.get("headers", {}).items()}
            status = int(answer["statusCode"])
        except (ValueError, KeyError, TypeError, AttributeError):
            error = f"not an HTTP API answer: {body[:200]!r}"
        else:
            timing = ServerTiming.from_header(headers.get("server-timing"))
            handler_ms, init_ms = timing.handler_ms, timing.init_ms
    sample = Sample(offset, elapsed_ms, status, handler_ms, init_ms, forced=True, error=error)
    return request_id, sample


def _reports(
    session: Any, log_group: str, request_ids: list[str], started: float, wait_s: float
) -> dict[str, LambdaReport]:
    """Each invoke's REPORT line, polling until all arrived or `wait_s` passed."""
    logs = session.client("logs")
    found: dict[str, LambdaReport] = {}
    deadline = time.monotonic() + wait_s
    while True:
        for request_id in [r for r in request_ids if r not in found]:
            pages = logs.get_paginator("filter_log_events").paginate(
                logGroupName=log_group,
                startTime=int(started * 1000) - 60_000,  # clock skew between us and AWS
                filterPattern=f'"{request_id}"',
                PaginationConfig={"MaxItems": LOG_EVENTS_PER_REQUEST},
            )
            for event in pages.search("events[]"):
                report = parse_report(event.get("message", ""))
                if report is not None and report.request_id == request_id:
                    found[request_id] = report
                    break
        if len(found) == len(request_ids) or time.monotonic() >= deadline:
            return found
        time.sleep(min(LOG_POLL_S, max(0.0, deadline - time.monotonic())))
