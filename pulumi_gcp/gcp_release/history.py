"""Which revisions served a function, in order: what "the previous revision" means.

A Cloud Run service knows what serves now but not what served before, and a revision cannot be
labelled once created. The release tool therefore keeps one record per function in the stack's
bucket (`releases/<function>.json`, storage.py), written with a generation precondition so two
operators never overwrite each other. What serves is always read from the service itself; the
record only answers "what served before", for every operator and CI job alike.

Events, oldest first:
- released: the revision passed its checks and its canary and took all traffic;
- rejected: the revision failed a check or its canary, and traffic went back;
- rolled_back: traffic moved back to `revision`, away from `from_revision`.

A revision that a rollback moved away from is never chosen as a rollback target again.

The record also says which bundles still matter: the lifecycle rule deletes a bundle
`bundleRetentionDays` after its customTime (source_bundle.py), and the tool stamps the bundles of
the serving revision and of the last ROLLBACK_DEPTH rollback targets at every release and
rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

RELEASED, REJECTED, ROLLED_BACK = "released", "rejected", "rolled_back"
# How many earlier revisions keep their bundles stamped: the ones `make rollback-gcp` would pick
# after that many rollbacks in a row.
ROLLBACK_DEPTH = 3


@dataclass(frozen=True)
class Event:
    at: str  # ISO 8601, UTC
    event: str  # released | rejected | rolled_back
    revision: str
    bundle: str | None = None  # the source bundle it was built from, when known
    from_revision: str | None = None  # rolled_back: the revision traffic moved away from

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            at=str(data["at"]),
            event=str(data["event"]),
            revision=str(data["revision"]),
            bundle=data.get("bundle"),
            from_revision=data.get("from_revision"),
        )


def rolled_back_from(events: Sequence[Event]) -> set[str]:
    return {e.from_revision for e in events if e.event == ROLLED_BACK and e.from_revision}


def rollback_targets(
    events: Sequence[Event], serving: str | None, exists: Callable[[str], bool] = lambda _: True
) -> list[Event]:
    """The revisions a rollback may return to, best first: those that took all traffic
    (released, or rolled back to), newest first, except the one serving, those a rollback
    moved away from, and those that no longer exist."""
    excluded = rolled_back_from(events) | ({serving} if serving else set())
    seen: set[str] = set()
    targets = []
    for event in reversed(events):
        if event.event not in (RELEASED, ROLLED_BACK) or event.revision in excluded:
            continue
        if event.revision in seen:
            continue
        seen.add(event.revision)
        if exists(event.revision):
            targets.append(event)
    return targets


def bundle_of(events: Sequence[Event], revision: str) -> str | None:
    """The bundle `revision` was built from, as the record has it."""
    return next((e.bundle for e in reversed(events) if e.revision == revision and e.bundle), None)


def bundles_to_keep(events: Sequence[Event], serving: str | None) -> set[str]:
    """The bundles of the serving revision and of the next ROLLBACK_DEPTH rollback targets."""
    keep = {bundle_of(events, serving)} if serving else set()
    keep |= {e.bundle for e in rollback_targets(events, serving)[:ROLLBACK_DEPTH]}
    return {bundle for bundle in keep if bundle}
