"""What a probe run prints: the latency table with the targets, or the JSON document."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ops.cold_start import ForcedColdStart
from ops.latency import GROUPS, ProbeResult, Sample
from ops.report import table
from ops.targets import Target


def render_text(
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
        assert target.stack is not None
        lines += ["", _render_forced(target.output("FunctionName"), forced)]
    lines += ["", "Targets:"]
    lines += [f"  {t.describe()}" for t in result.targets]
    if result.failures:
        lines += ["", "Problems:"] + [f"  {n} x {what}" for what, n in result.failures.items()]
    lines += ["", _verdict(result)]
    return "\n".join(lines)


def _render_forced(function_name: str, forced: Sequence[ForcedColdStart]) -> str:
    rows = [
        (
            f.request_id,
            _ms(f.sample.client_ms),
            *(
                _ms(getattr(f.report, name, None))
                for name in ("init_ms", "duration_ms", "billed_ms", "max_memory_mb")
            ),
            _ms(f.sample.init_ms),
        )
        for f in forced
    ]
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
        f"Forced cold starts of {function_name} ($LATEST, direct invoke; ms, REPORT lines from "
        f"CloudWatch Logs):\n{table(header, rows, right=range(1, 7))}{note}"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _verdict(result: ProbeResult) -> str:
    missed = [t.name for t in result.targets if t.met is False]
    parts = []
    if missed:
        parts.append(f"target missed: {', '.join(missed)}")
    if result.failures:
        parts.append(f"{sum(result.failures.values())} requests failed")
    return "probe: " + ("; ".join(parts) if parts else "targets met, every request answered")


def to_json(
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
        "samples": [s.to_json() for s in samples],
    }
