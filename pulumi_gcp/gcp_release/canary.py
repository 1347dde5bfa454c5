"""Judging a canary: the new revision's own requests, 5xx and p99 latency over its window.

The counterpart of the AWS release alarms (stacks/release.py), which watch the version being
deployed and nothing else: here every figure is read for the new revision alone
(`resource.labels.revision_name`), so the old revision's errors are never blamed on it, and one
5xx in ten requests is not hidden by the old revision's volume.

- Any 5xx from the new revision fails it (AWS: any error or handler 5xx on the new version).
- Its p99 over the window must stay at or under the stack's latency threshold. Cloud Run's
  request_latencies leaves out container start-up, as Lambda's Duration leaves out init, so a
  cold start alone cannot fail it.
- It must have served at least MIN_REQUESTS: no evidence is no release (AWS: the canary's
  CANARY_MIN_REQUESTS). The tool sends its own traffic through the service URL meanwhile, so a
  quiet service still yields evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_REQUESTS = 10
# One synthetic prediction through the service URL every this many seconds (as on AWS).
SYNTHETIC_INTERVAL_SECONDS = 0.5
# How often the window's metrics are read for an early verdict.
POLL_SECONDS = 60.0
# Cloud Run's request metrics reach Monitoring up to about three minutes late: the verdict waits
# this long after the window, traffic unchanged, before it reads the window's figures.
SETTLE_SECONDS = 180.0


@dataclass(frozen=True)
class Evidence:
    """What Monitoring recorded for one revision over a window."""

    requests: int
    server_errors: int
    p99_ms: float | None  # None: no latency data


def problems(evidence: Evidence, *, latency_p99_ms: float, final: bool) -> list[str]:
    """What fails the canary; [] when nothing does. Before the window ends (`final` False) only
    what can no longer turn out well counts: a 5xx, or a p99 already over the threshold."""
    found = []
    if evidence.server_errors > 0:
        found.append(
            f"{evidence.server_errors} 5xx of {evidence.requests} requests on the new revision"
        )
    if evidence.p99_ms is not None and evidence.p99_ms > latency_p99_ms:
        found.append(
            f"p99 latency {evidence.p99_ms:.0f} ms on the new revision, over {latency_p99_ms:g} ms"
        )
    if final and not found and evidence.requests < MIN_REQUESTS:
        found.append(
            f"no evidence: the new revision served {evidence.requests} requests in its canary "
            f"(at least {MIN_REQUESTS} needed)"
        )
    return found
