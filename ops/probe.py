"""Cold and warm latency of a deployment, end to end, with the server's share of each.

    python -m ops.probe --url http://127.0.0.1:8080 --requests 200 --concurrency 4
    python -m ops.probe --stack SklearnInference-dev --force-cold 5 --plot latency.png
    python -m ops.probe --stack SklearnInference-prod --model wine   # one of several models

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
    local_artifacts,
    positive_float,
    positive_int,
    run_cli,
)
from ops.cold_start import LOG_WAIT_S, ForcedColdStart, force_cold_starts, http_api_event
from ops.errors import CannotRun
from ops.latency import COLD_TARGET_MS, WARM_TARGET_MS, summarise
from ops.load import Request, run_load
from ops.model_store import pointed_version
from ops.probe_report import render_text, to_json
from ops.reference import load_reference
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
    load.add_argument(
        "--log-wait",
        type=positive_float,
        default=LOG_WAIT_S,
        metavar="S",
        help=f"with --force-cold: wait up to S s for the REPORT lines (default {LOG_WAIT_S:g})",
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
    target = resolve_target(args, session_factory=session_factory)
    # A row of the model the target serves (a deployment of one model needs no --model); for a
    # store model, of the version its pointer names.
    if target.store is not None:
        reference = pointed_version(target.store, target.session).version.reference
    else:
        reference = load_reference(local_artifacts(target.model))
    body = json.dumps({"features": list(reference.cases[0].features)}).encode()

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
    if samples and all(s.client_ms is None for s in samples):
        raise CannotRun(samples[0].error or "no request was answered")

    result = summarise(
        samples, cold_target_ms=args.cold_target_ms, warm_target_ms=args.warm_target_ms
    )
    sent = f"{len(samples) - len(forced)} requests (POST /predict, one row)"
    plot = None
    if args.plot is not None and any(s.ok for s in samples):
        from ops.plot import write_histogram

        write_histogram(samples, result.targets, args.plot, f"probe {target.describe()}: {sent}")
        plot = args.plot
    elif args.plot is not None:
        print("probe: no plot: no request was answered with a 2xx", file=sys.stderr)
    if args.json:
        document = to_json(target, args, result, samples, forced, elapsed)
        print(json.dumps({**document, "plot": None if plot is None else str(plot)}, indent=2))
    else:
        print(render_text(target, args, result, forced, sent, elapsed))
    return EXIT_PASSED if result.passed else EXIT_FAILED


def _force_cold(target: Target, args: argparse.Namespace, body: bytes) -> list[ForcedColdStart]:
    assert target.stack is not None
    function = target.output("FunctionName")
    log_group = target.stack.outputs.get(target.output_key("FunctionLogGroup"))
    log_group = log_group or f"/aws/lambda/{function}"

    def progress(line: str) -> None:
        if not args.json:
            print(line, file=sys.stderr, flush=True)

    return force_cold_starts(
        target.session,
        function_name=function,
        log_group=log_group,
        count=args.force_cold,
        # A direct invoke goes past API Gateway: the path is the function's own route.
        event=http_api_event("POST", target.route_prefix + "/predict", body),
        timeout=args.timeout,
        progress=progress,
        log_wait_s=args.log_wait,
    )


if __name__ == "__main__":
    sys.exit(main())
