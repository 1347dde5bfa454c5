"""Cold and warm latency of a deployment, end to end, with the server's share of each.

    python -m ops.probe --url http://127.0.0.1:8080 --requests 200 --concurrency 4
    python -m ops.probe --stack SklearnInference-dev --force-cold 5 --plot latency.png

Sends a bounded load (--requests, --concurrency, capped by --duration) of one-row predictions
and splits the answers into cold and warm by the handler's `Server-Timing` header. On AWS,
--force-cold N first forces N fresh execution environments of the unqualified function and
reads their `Init Duration` from CloudWatch Logs. The summary holds the results to the targets:
cold under 3 s, warm under 100 ms, end to end.

Exit status: 0 targets met and every request answered 2xx, 1 otherwise, 2 could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ops import aws
from ops.cli import (
    EXIT_FAILED,
    EXIT_PASSED,
    OneLineErrorParser,
    add_target_arguments,
    positive_float,
    positive_int,
    run_cli,
)
from ops.cold_start import ForcedColdStart, force_cold_starts, http_api_event
from ops.errors import CannotRun
from ops.latency import (
    COLD_TARGET_MS,
    GROUPS,
    WARM_TARGET_MS,
    ProbeResult,
    Sample,
    summarise,
)
from ops.load import Request, run_load
from ops.reference import DEFAULT_MODEL_DIR, load_reference
from ops.report import table
from ops.targets import SessionFactory, Target, resolve_target

MAX_FORCED_COLD = 20  # each takes a configuration update: tens of seconds


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(
        prog="probe",
        description="Measure cold and warm latency of a deployment, end to end.",
        epilog="Exit status: 0 targets met, 1 a target missed or a request failed, "
        "2 could not run.",
    )
    add_target_arguments(parser)
    load = parser.add_argument_group("load (every bound applies)")
    load.add_argument(
        "--requests",
        type=_requests,
        default=100,
        metavar="N",
        help="requests to send (default 100; 0 with --force-cold for cold starts only)",
    )
    load.add_argument(
        "--concurrency",
        type=positive_int(64),
        default=4,
        metavar="C",
        help="requests in flight at once, each on its own connection (default 4)",
    )
    load.add_argument(
        "--rate",
        type=positive_float,
        metavar="R",
        help="send at most R requests per second (default: as fast as answers come); keep it "
        "under an API Gateway stage's throttle (dev: 10 req/s)",
    )
    load.add_argument(
        "--duration",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="send no request after this many seconds (default 60)",
    )
    load.add_argument(
        "--force-cold",
        type=positive_int(MAX_FORCED_COLD),
        metavar="N",
        help="with --stack: force N cold starts of the unqualified function first, and read "
        "their Init Duration from CloudWatch Logs (never touches the live alias)",
    )
    summary = parser.add_argument_group("summary")
    summary.add_argument(
        "--cold-target-ms",
        type=positive_float,
        default=COLD_TARGET_MS,
        metavar="MS",
        help=f"every cold answer under this, end to end (default {COLD_TARGET_MS:g})",
    )
    summary.add_argument(
        "--warm-target-ms",
        type=positive_float,
        default=WARM_TARGET_MS,
        metavar="MS",
        help=f"p99 of warm answers under this, end to end (default {WARM_TARGET_MS:g})",
    )
    summary.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="draw the latency histogram to this PNG"
    )
    return parser


def _requests(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(100_000)(text)


def main(
    argv: Sequence[str] | None = None, *, session_factory: SessionFactory = aws.aws_session
) -> int:
    return run_cli(build_parser(), argv, lambda args: _run(args, session_factory))


def _run(args: argparse.Namespace, session_factory: SessionFactory) -> int:
    if args.force_cold and not args.stack:
        raise CannotRun("--force-cold needs --stack: it changes the AWS function's configuration")
    if args.requests == 0 and not args.force_cold:
        raise CannotRun("--requests 0 sends nothing: give --force-cold N, or some requests")
    if args.plot is not None:
        from ops.plot import check_plot_path

        check_plot_path(args.plot)
    reference = load_reference(DEFAULT_MODEL_DIR)
    body = json.dumps({"features": list(reference.cases[0].features)}).encode()
    target = resolve_target(args, session_factory=session_factory)

    forced = _force_cold(target, args, body) if args.force_cold else []
    started = time.monotonic()
    samples = [f.sample for f in forced]
    if args.requests:
        samples += run_load(
            lambda: target.client(args.timeout),
            Request("POST", "/predict", body),
            requests=args.requests,
            concurrency=args.concurrency,
            duration_s=args.duration,
            rate=args.rate,
        )
    elapsed = time.monotonic() - started
    if samples and all(s.status is None for s in samples):
        raise CannotRun(samples[0].error or "no request was answered")

    result = summarise(
        samples, cold_target_ms=args.cold_target_ms, warm_target_ms=args.warm_target_ms
    )
    sent = f"{len(samples) - len(forced)} requests (POST /predict, one row)"
    if args.plot is not None:
        from ops.plot import write_histogram

        write_histogram(samples, result.targets, args.plot, f"probe {target.describe()}: {sent}")
    if args.json:
        print(json.dumps(_document(target, args, result, samples, forced, elapsed), indent=2))
    else:
        print(_render(target, args, result, forced, sent, elapsed))
    return EXIT_PASSED if result.passed else EXIT_FAILED


def _force_cold(target: Target, args: argparse.Namespace, body: bytes) -> list[ForcedColdStart]:
    assert target.stack is not None
    function = target.stack.output("FunctionName")
    log_group = target.stack.outputs.get("FunctionLogGroup") or f"/aws/lambda/{function}"

    def progress(line: str) -> None:
        if not args.json:
            print(line, file=sys.stderr, flush=True)

    return force_cold_starts(
        target.session,
        function_name=function,
        log_group=log_group,
        count=args.force_cold,
        event=http_api_event("POST", "/predict", body),
        timeout=args.timeout,
        progress=progress,
    )


def _render(
    target: Target,
    args: argparse.Namespace,
    result: ProbeResult,
    forced: Sequence[ForcedColdStart],
    sent: str,
    elapsed: float,
) -> str:
    statuses = ", ".join(f"{n} x {status}" for status, n in result.statuses.items())
    lines = [
        f"probe {target.describe()}",
        f"{sent}, concurrency {args.concurrency}"
        + (f", at most {args.rate:g}/s" if args.rate else "")
        + f", {elapsed:.1f} s; answers: {statuses}",
        "",
    ]
    rows = [
        (
            name,
            str(stats.client.n),
            *(f"{v:.1f}" for v in (stats.client.p50, stats.client.p90, stats.client.p99)),
            f"{stats.client.max:.1f}",
            f"{stats.server.p50:.2f}" if stats.server else "-",
            f"{stats.init.p50:.1f}" if stats.init else "-",
            f"{stats.server_share:.0%}" if stats.server_share is not None else "-",
        )
        for name in GROUPS
        if (stats := result.groups.get(name)) is not None
    ]
    header = (
        "",
        "n",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "server p50",
        "init p50",
        "server share",
    )
    lines += [table(header, rows, right=range(1, 9)), ""]
    lines += [
        "  ms end to end, as the client saw them; server: the handler's own time from",
        "  Server-Timing (plus init when cold); share: median of server / end to end",
    ]
    if forced:
        lines += ["", _render_forced(target, forced)]
    lines += ["", "Targets:"]
    lines += [f"  {t.describe()}" for t in result.targets]
    if result.failures:
        lines += ["", "Problems:"] + [f"  {n} x {what}" for what, n in result.failures.items()]
    lines += ["", _verdict(result)]
    return "\n".join(lines)


def _render_forced(target: Target, forced: Sequence[ForcedColdStart]) -> str:
    assert target.stack is not None
    rows = []
    for f in forced:
        r = f.report
        rows.append(
            (
                f.request_id,
                f"{f.sample.client_ms:.1f}" if f.sample.client_ms is not None else "-",
                *(
                    "-" if r is None or value is None else f"{value:.1f}"
                    for value in (
                        (r.init_ms, r.duration_ms, r.billed_ms, r.max_memory_mb)
                        if r
                        else (None,) * 4
                    )
                ),
                f"{f.sample.init_ms:.1f}" if f.sample.init_ms is not None else "-",
            )
        )
    header = (
        "request id",
        "end to end",
        "Init Duration",
        "Duration",
        "Billed",
        "Max MB",
        "init (Server-Timing)",
    )
    missing = sum(f.report is None for f in forced)
    note = f"\n  {missing} REPORT line(s) did not reach CloudWatch Logs in time" if missing else ""
    return (
        f"Forced cold starts of {target.stack.output('FunctionName')} ($LATEST, direct invoke; "
        f"ms, REPORT lines from CloudWatch Logs):\n{table(header, rows, right=range(1, 7))}{note}"
    )


def _verdict(result: ProbeResult) -> str:
    missed = [t.name for t in result.targets if t.met is False]
    parts = []
    if missed:
        parts.append(f"target missed: {', '.join(missed)}")
    if result.failures:
        parts.append(f"{sum(result.failures.values())} requests failed")
    return "probe: " + ("; ".join(parts) if parts else "targets met, every request answered")


def _document(
    target: Target,
    args: argparse.Namespace,
    result: ProbeResult,
    samples: Sequence[Sample],
    forced: Sequence[ForcedColdStart],
    elapsed: float,
) -> dict[str, object]:
    return {
        "target": target.to_json(),
        "load": {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "duration_cap_s": args.duration,
            "rate": args.rate,
            "elapsed_s": round(elapsed, 3),
            "force_cold": args.force_cold or 0,
        },
        "passed": result.passed,
        "statuses": result.statuses,
        "failures": result.failures,
        "groups": {name: stats.to_json() for name, stats in result.groups.items()},
        "targets": {t.name: t.to_json() for t in result.targets},
        "forced_cold_starts": [f.to_json() for f in forced],
        "plot": None if args.plot is None else str(args.plot),
        "samples": [s.to_json() for s in samples],
    }


if __name__ == "__main__":
    sys.exit(main())
