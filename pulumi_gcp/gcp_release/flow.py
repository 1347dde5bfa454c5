"""Release and rollback of one function, step by step, over ports (cloud_run.py, storage.py,
revision_metrics.py, probe.py): the order of things, and that every failure puts traffic back.

A release of a function whose newest revision `pulumi up` has just deployed with no traffic:

1. tag the new revision `candidate` (no traffic) and run `make verify`'s checks through the
   tag's URL, against the model its own bundle holds;
2. canary: `canary_percent` of the service's traffic for `canary_minutes`, judged on the new
   revision's own 5xx, p99 latency and request count (canary.py), with synthetic predictions
   through the service URL all along;
3. all traffic to it, by name, and the tag removed.

Anything that goes wrong on the way (a failed or impossible check, a canary breach, an API
error, Ctrl-C) puts back the traffic as it was before step 1, in one traffic change: seconds,
no rebuild. A rollback moves all traffic to the previous serving revision (history.py) or a
named one; a revision that serves nothing is first checked through a tag.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ops.checks import CheckResult
from ops.reference import Reference

from . import canary as canary_rules
from .canary import Evidence
from .cloud_run import RevisionInfo, ServiceMissing
from .history import (
    REJECTED,
    RELEASED,
    ROLLED_BACK,
    Event,
    bundle_of,
    bundles_to_keep,
    rollback_targets,
)
from .probe import Expected
from .traffic import (
    CANDIDATE_TAG,
    Route,
    ServiceState,
    canary,
    describe,
    only,
    pinned,
    tagged,
)


class Unavailable(Exception):
    """When what the command needs is missing (tool, credentials, stack, revision): nothing was
    changed"""


class Rejected(Exception):
    """When the new revision failed a check or its canary"""


class Service(Protocol):
    def state(self) -> ServiceState: ...
    def revision(self, name: str) -> RevisionInfo | None: ...
    def list_revisions(self) -> list[RevisionInfo]: ...
    def route(self, routes: Sequence[Route], etag: str) -> ServiceState: ...


class Record(Protocol):
    def record(self, function: str) -> tuple[list[Event], int]: ...
    def append(self, function: str, events: Sequence[Event], generation: int) -> None: ...
    def manifest(self, bundle: str) -> dict[str, object] | None: ...
    def stamp(self, function: str, keep: set[str], now: datetime) -> None: ...


class Metrics(Protocol):
    def evidence(self, revision: str, start: datetime, end: datetime) -> Evidence: ...


class Probe(Protocol):
    def check(self, url: str, expected: Expected) -> list[CheckResult]: ...
    def predict(self, url: str, reference: Reference) -> str | None: ...


@dataclass(frozen=True)
class Unit:
    """One model's function, as the stack outputs describe it."""

    model: str | None  # None: a stack's only model
    function: str
    url: str
    bundle: str  # the bundle its function builds from now
    canary_percent: int
    canary_minutes: int
    latency_p99_ms: float

    @property
    def label(self) -> str:
        return f"{self.model}: " if self.model else ""


@dataclass
class Ports:
    service: Service
    record: Record
    metrics: Metrics
    probe: Probe
    say: Callable[[str], None]
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def prepare(unit: Unit, ports: Ports) -> None:
    """Before `pulumi up`: a service whose traffic follows LATEST (as Cloud Functions creates
    it) is pinned to the revisions it serves, by name, so the deploy cannot move traffic.
    A function not deployed yet has nothing to protect: its first revision serves at once."""
    try:
        state = ports.service.state()
    except ServiceMissing:
        ports.say(f"{unit.label}{unit.function} is new: its first revision will serve at once")
        return
    if state.follows_latest:
        routes = pinned(state)
        ports.say(f"{unit.label}pinning traffic by name before deploying: {describe(routes)}")
        ports.service.route(routes, state.etag)


def release(unit: Unit, expected: Expected, ports: Ports) -> int:
    """Judge the function's newest revision and give it the traffic, or put traffic back.
    0 released (or nothing new), 1 rejected."""
    state = ports.service.state()
    candidate, main = state.latest_ready, state.main_revision()
    if state.latest_created != state.latest_ready:
        failed = ports.service.revision(state.latest_created)
        reason = failed.reason if failed is not None else "unknown"
        ports.say(
            f"{unit.label}the new revision {state.latest_created} never became ready ({reason}); "
            f"traffic stays: {describe(pinned(state))}"
        )
        return 1
    if main is None or candidate == main:
        ports.say(f"{unit.label}nothing new to release: {describe(pinned(state))}")
        return 0
    before = tuple(r for r in pinned(state) if r.revision != candidate)
    if sum(r.percent for r in before) != 100:  # a canary left by an interrupted release
        before = only(main)
    ports.say(f"{unit.label}releasing {candidate} ({unit.bundle}); now serving {describe(before)}")
    try:
        state = ports.service.route(tagged(before, candidate), state.etag)
        _judge(unit, state, expected, ports)
        if unit.canary_percent > 0:
            state = _canary(unit, state, main, candidate, expected, ports)
        ports.service.route(only(candidate), state.etag)
    except Rejected as why:
        _restore(unit, before, ports)
        ports.say(f"{unit.label}REJECTED {candidate}: {why}")
        _remember(unit, ports, Event(_iso(ports), REJECTED, candidate, unit.bundle), main)
        return 1
    except BaseException:
        _restore(unit, before, ports)  # Ctrl-C, an API error: the traffic goes back first
        raise
    ports.say(f"{unit.label}released {candidate}: 100% of traffic")
    _remember(unit, ports, Event(_iso(ports), RELEASED, candidate, unit.bundle), candidate)
    return 0


def rollback(unit: Unit, ports: Ports, to: str | None = None) -> int:
    """All traffic to `to`, or to the revision that served before the current one. 0 done,
    1 the target failed its check (traffic unchanged)."""
    state = ports.service.state()
    serving = state.main_revision()
    events, _ = ports.record.record(unit.function)
    if to is None:
        targets = rollback_targets(events, serving, lambda r: ports.service.revision(r) is not None)
        if not targets:
            names = ", ".join(r.name for r in ports.service.list_revisions()) or "none"
            raise Unavailable(
                f"{unit.label}no earlier released revision of {unit.function} is recorded; "
                f"name one with TO=<revision> (revisions: {names})"
            )
        to = targets[0].revision
    target = ports.service.revision(to)
    if target is None:
        raise Unavailable(f"{unit.function} has no revision {to!r}")
    if not target.ready:
        raise Unavailable(f"{to} is not ready ({target.reason}): it cannot take traffic")
    if state.serving() == {to: 100}:
        raise Unavailable(f"{to} serves all traffic already")
    bundle = bundle_of(events, to)
    manifest = ports.record.manifest(bundle) if bundle else None
    expected = (
        Expected.from_manifest(manifest, f"its bundle {bundle}")
        if manifest is not None
        else Expected(None, source="no bundle recorded or kept: health only")
    )
    ports.say(f"{unit.label}rolling back {describe(pinned(state))} -> 100% {to}")
    if to not in state.serving():
        before = pinned(state)
        state = ports.service.route(tagged(before, to), state.etag)
        try:
            _judge(unit, state, expected, ports, tag=CANDIDATE_TAG)
        except Rejected as why:
            _restore(unit, before, ports)
            ports.say(f"{unit.label}NOT rolled back: {to} failed its check: {why}")
            return 1
    ports.service.route(only(to), state.etag)
    ports.say(f"{unit.label}rolled back: 100% of traffic on {to}")
    _remember(unit, ports, Event(_iso(ports), ROLLED_BACK, to, bundle, serving), to)
    return 0


def _judge(
    unit: Unit, state: ServiceState, expected: Expected, ports: Ports, tag: str = CANDIDATE_TAG
) -> None:
    url = state.tag_urls.get(tag)
    if not url:
        raise Rejected(f"Cloud Run reported no URL for the tag {tag!r}")
    ports.say(f"{unit.label}checking {url} against {expected.source}")
    results = ports.probe.check(url, expected)
    for result in results:
        ports.say(f"  {'ok  ' if result.passed else 'FAIL'} {result.name}: {result.detail}")
    failed = [r.name for r in results if not r.passed]
    if failed or not results:
        raise Rejected(f"checks through {url} failed: {', '.join(failed) or 'none ran'}")


def _canary(
    unit: Unit,
    state: ServiceState,
    main: str,
    candidate: str,
    expected: Expected,
    ports: Ports,
) -> ServiceState:
    """Hold the canary split for the window and judge it; the state it leaves."""
    state = ports.service.route(canary(main, candidate, unit.canary_percent), state.etag)
    ports.say(
        f"{unit.label}canary: {describe(canary(main, candidate, unit.canary_percent))} for "
        f"{unit.canary_minutes} min, then {canary_rules.SETTLE_SECONDS:.0f} s for its metrics"
    )
    started, start = ports.now(), ports.clock()
    window_end = start + unit.canary_minutes * 60
    verdict_at = window_end + canary_rules.SETTLE_SECONDS
    next_poll = start + canary_rules.POLL_SECONDS
    sent = 0
    while ports.clock() < verdict_at:
        if expected.reference is not None:
            problem = ports.probe.predict(unit.url, expected.reference)
            sent += 1
            if problem is not None:
                raise Rejected(f"a synthetic request through {unit.url}: {problem}")
        if ports.clock() >= next_poll:
            evidence = ports.metrics.evidence(candidate, started, ports.now())
            found = canary_rules.problems(evidence, latency_p99_ms=unit.latency_p99_ms, final=False)
            if found:
                raise Rejected("; ".join(found))
            next_poll += canary_rules.POLL_SECONDS
        ports.sleep(canary_rules.SYNTHETIC_INTERVAL_SECONDS)
    evidence = ports.metrics.evidence(candidate, started, ports.now())
    found = canary_rules.problems(evidence, latency_p99_ms=unit.latency_p99_ms, final=True)
    if found:
        raise Rejected("; ".join(found))
    ports.say(
        f"{unit.label}canary passed: {evidence.requests} requests on {candidate}, no 5xx, p99 "
        f"{evidence.p99_ms if evidence.p99_ms is not None else 'n/a'} ms; {sent} synthetic sent"
    )
    return state


def _restore(unit: Unit, routes: Sequence[Route], ports: Ports) -> None:
    state = ports.service.state()
    ports.service.route(routes, state.etag)
    ports.say(f"{unit.label}traffic back to {describe(routes)}")


def _remember(unit: Unit, ports: Ports, event: Event, serving: str | None) -> None:
    """Append to the release record and restamp the bundles that matter; a failure here is
    reported, never undoes the traffic change."""
    try:
        events, generation = ports.record.record(unit.function)
        events = [*events, event]
        ports.record.append(unit.function, events, generation)
        ports.record.stamp(unit.function, bundles_to_keep(events, serving), ports.now())
    except Exception as exc:  # the traffic is right; only the bookkeeping is behind
        ports.say(f"{unit.label}WARNING: could not update the release record: {exc}")


def _iso(ports: Ports) -> str:
    return ports.now().isoformat(timespec="seconds")
