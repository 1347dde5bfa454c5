"""The probe's samples and what they add up to (pure): cold and warm split by the handler's
`Server-Timing` header, percentiles per group, the server's share, and the seeds' acceptance
targets (cold under 3 s, warm under 100 ms, end to end)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ops.stats import Summary, percentile

COLD_TARGET_MS = 3000.0
WARM_TARGET_MS = 100.0

# Group names, in report order. A forced cold start is a direct invoke of the unqualified
# function (no API in front), so it is kept apart from cold requests that came through the API.
FORCED_COLD, COLD, WARM, UNKNOWN = "cold (forced)", "cold", "warm", "no Server-Timing"
GROUPS = (FORCED_COLD, COLD, WARM, UNKNOWN)


@dataclass(frozen=True)
class Sample:
    offset_s: float  # when the request was sent, seconds after the probe started
    client_ms: float | None  # None: no HTTP answer (see `error`)
    status: int | None
    handler_ms: float | None  # Server-Timing handler;dur
    init_ms: float | None  # Server-Timing init;dur (present only on a cold answer)
    forced: bool = False  # a forced cold start (direct invoke), not a request through the API
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def group(self) -> str:
        if self.forced:
            return FORCED_COLD
        if self.init_ms is not None:
            return COLD
        return WARM if self.handler_ms is not None else UNKNOWN

    @property
    def server_ms(self) -> float | None:
        """The handler's own time, plus its instance's init for a cold answer."""
        if self.handler_ms is None:
            return None
        return self.handler_ms + (self.init_ms or 0.0)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "group": self.group}


@dataclass(frozen=True)
class GroupStats:
    client: Summary  # end to end, as the caller saw it
    server: Summary | None  # handler (+ init when cold), from Server-Timing
    init: Summary | None
    server_share: float | None  # median over requests of server / end to end

    def to_json(self) -> dict[str, Any]:
        return {
            "client_ms": self.client.to_json(),
            "server_ms": self.server.to_json() if self.server else None,
            "init_ms": self.init.to_json() if self.init else None,
            "server_share": None if self.server_share is None else round(self.server_share, 4),
        }


@dataclass(frozen=True)
class TargetVerdict:
    name: str  # cold | warm
    limit_ms: float
    statistic: str  # which number is held to the limit: max for cold, p99 for warm
    value_ms: float | None  # None: nothing of this kind was measured

    @property
    def met(self) -> bool | None:
        return None if self.value_ms is None else self.value_ms < self.limit_ms

    def describe(self) -> str:
        head = f"{self.name} < {self.limit_ms:g} ms ({self.statistic}, end to end)"
        if self.value_ms is None:
            return f"{head}: not measured"
        return f"{head}: {'met' if self.met else 'MISSED'} ({self.value_ms:.1f} ms)"

    def to_json(self) -> dict[str, Any]:
        return {
            "limit_ms": self.limit_ms,
            "statistic": self.statistic,
            "value_ms": None if self.value_ms is None else round(self.value_ms, 3),
            "met": self.met,
        }


@dataclass(frozen=True)
class ProbeResult:
    groups: dict[str, GroupStats]
    statuses: dict[str, int]  # "200" -> count, "error" for no answer
    failures: dict[str, int]  # what went wrong -> how many requests (most frequent first)
    targets: tuple[TargetVerdict, ...]

    @property
    def passed(self) -> bool:
        return not self.failures and all(t.met is not False for t in self.targets)


def _failure(sample: Sample) -> str:
    if sample.status is None:
        return sample.error or "no answer"
    if sample.status == 429:
        return "HTTP 429 (throttled by the gateway: lower --concurrency or set --rate)"
    return f"HTTP {sample.status}"


def group_stats(samples: Sequence[Sample]) -> GroupStats | None:
    client = [s.client_ms for s in samples if s.client_ms is not None]
    summary = Summary.of(client)
    if summary is None:
        return None
    server = [s.server_ms for s in samples if s.server_ms is not None]
    shares = [s.server_ms / s.client_ms for s in samples if s.server_ms is not None and s.client_ms]
    return GroupStats(
        client=summary,
        server=Summary.of(server),
        init=Summary.of([s.init_ms for s in samples if s.init_ms is not None]),
        server_share=percentile(shares, 50) if shares else None,
    )


def summarise(
    samples: Sequence[Sample],
    *,
    cold_target_ms: float = COLD_TARGET_MS,
    warm_target_ms: float = WARM_TARGET_MS,
) -> ProbeResult:
    """Latency per group over the successful answers; failures counted, never averaged in."""
    answered = [s for s in samples if s.ok]
    groups = {}
    for name in GROUPS:
        stats = group_stats([s for s in answered if s.group == name])
        if stats is not None:
            groups[name] = stats
    statuses = Counter("error" if s.status is None else str(s.status) for s in samples)
    failures = Counter(_failure(s) for s in samples if not s.ok)
    unclassified = sum(s.group == UNKNOWN for s in answered)
    if unclassified:
        # The handler's contract puts the header on every answer (CONTRACTS.md §1).
        failures["answered without a Server-Timing header: neither cold nor warm"] = unclassified
    cold = [s.client_ms for s in answered if s.group in (FORCED_COLD, COLD) and s.client_ms]
    warm = [s.client_ms for s in answered if s.group == WARM and s.client_ms]
    targets = (
        TargetVerdict("cold", cold_target_ms, "max", max(cold) if cold else None),
        TargetVerdict("warm", warm_target_ms, "p99", percentile(warm, 99) if warm else None),
    )
    return ProbeResult(
        groups=groups,
        statuses=dict(sorted(statuses.items())),
        failures=dict(failures.most_common()),
        targets=targets,
    )
