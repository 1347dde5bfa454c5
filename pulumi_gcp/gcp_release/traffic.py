"""A Cloud Run service's traffic as the release tool sees it, and the splits it moves through.

Every split the tool writes names its revisions (TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION), never
LATEST: with `all_traffic_on_latest_revision=False` (function.py) Cloud Functions honours the
service's traffic on a deploy, and a LATEST route would hand the new revision all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# The tag a revision under judgement is reachable at: https://candidate---<service>-<hash>...
CANDIDATE_TAG = "candidate"


def short(name: str) -> str:
    """`projects/p/locations/r/services/s/revisions/s-00002-abc` -> `s-00002-abc`."""
    return name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Route:
    """One traffic target: a share of the service's traffic, or a tag, on a named revision."""

    revision: str
    percent: int
    tag: str = ""


@dataclass(frozen=True)
class ServiceState:
    """A service as the Admin API reported it: `routes` resolved (trafficStatuses), whether a
    traffic target follows LATEST, the newest ready and created revisions, tag URLs."""

    name: str
    uri: str
    etag: str
    routes: tuple[Route, ...]
    follows_latest: bool
    latest_ready: str
    latest_created: str
    tag_urls: dict[str, str] = field(default_factory=dict)

    def serving(self) -> dict[str, int]:
        """Revision -> percent, for the revisions that get any traffic."""
        shares: dict[str, int] = {}
        for route in self.routes:
            if route.percent > 0:
                shares[route.revision] = shares.get(route.revision, 0) + route.percent
        return shares

    def main_revision(self) -> str | None:
        """The revision with the largest share (the newest of equals): what the tool rolls a
        canary back to, and what a rollback moves away from."""
        serving = self.serving()
        return max(serving, key=lambda r: (serving[r], r), default=None)


def pinned(state: ServiceState) -> tuple[Route, ...]:
    """The traffic as it stands, by revision name and without tags."""
    return tuple(Route(revision, percent) for revision, percent in sorted(state.serving().items()))


def tagged(routes: Sequence[Route], revision: str, tag: str = CANDIDATE_TAG) -> tuple[Route, ...]:
    """`routes` plus `tag` on `revision` (with no traffic of its own)."""
    return (*routes, Route(revision, 0, tag))


def canary(main: str, candidate: str, percent: int, tag: str = CANDIDATE_TAG) -> tuple[Route, ...]:
    """`percent` to the candidate (still tagged), the rest to the main revision."""
    return (Route(main, 100 - percent), Route(candidate, percent, tag))


def only(revision: str) -> tuple[Route, ...]:
    """All traffic to one revision, no tags."""
    return (Route(revision, 100),)


def describe(routes: Sequence[Route]) -> str:
    """`90% fn-00002-abc, 10% fn-00003-xyz (tag candidate)`."""
    parts = [
        f"{route.percent}% {route.revision}" + (f" (tag {route.tag})" if route.tag else "")
        for route in routes
    ]
    return ", ".join(parts) or "no traffic"
