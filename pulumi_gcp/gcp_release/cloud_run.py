"""A function's Cloud Run service through the Cloud Run Admin API v2 (google-cloud-run).

Traffic is changed the way gcloud changes it: read the service, replace its `traffic`, write it
back with the etag it was read with (a service changed by someone else in between is refused, not
overwritten), and wait for the long-running operation. Only `traffic` changes: Cloud Run makes
no new revision for it, and Cloud Functions keeps honouring it (function.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .traffic import Route, ServiceState, short

# How long a traffic change may take before the tool gives up on it.
OPERATION_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class RevisionInfo:
    name: str  # short: fn-00003-kev
    created: datetime | None
    ready: bool
    reason: str  # why it is not ready, from its Ready condition


class CloudRun:
    """One service. `services` and `revisions` are `run_v2.ServicesClient` and
    `run_v2.RevisionsClient` (or anything with their methods)."""

    def __init__(self, services: Any, revisions: Any, project: str, region: str, service: str):
        self.services, self.revisions_client = services, revisions
        self.name = f"projects/{project}/locations/{region}/services/{service}"

    def state(self) -> ServiceState:
        from google.api_core.exceptions import NotFound

        try:
            return to_state(self.services.get_service(name=self.name))
        except NotFound:
            raise ServiceMissing(f"{short(self.name)} does not exist yet") from None

    def revision(self, name: str) -> RevisionInfo | None:
        from google.api_core.exceptions import NotFound

        try:
            return to_revision(
                self.revisions_client.get_revision(name=f"{self.name}/revisions/{name}")
            )
        except NotFound:
            return None

    def list_revisions(self) -> list[RevisionInfo]:
        return [to_revision(r) for r in self.revisions_client.list_revisions(parent=self.name)]

    def route(self, routes: Sequence[Route], etag: str) -> ServiceState:
        """Replace the service's traffic with `routes`; the service as Cloud Run reports it."""
        from google.cloud import run_v2

        service = self.services.get_service(name=self.name)
        if etag and service.etag != etag:
            raise ConcurrentChange(
                f"{short(self.name)} changed since the tool read it (etag {service.etag!r}, "
                f"not {etag!r}): someone else is releasing or rolling back; run it again"
            )
        del service.traffic[:]
        service.traffic.extend(
            run_v2.TrafficTarget(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                revision=route.revision,
                percent=route.percent,
                tag=route.tag,
            )
            for route in routes
        )
        operation = self.services.update_service(
            request=run_v2.UpdateServiceRequest(service=service)
        )
        return to_state(operation.result(timeout=OPERATION_TIMEOUT_SECONDS))


class ServiceMissing(Exception):
    """When the function's service does not exist yet (its first deploy)"""


class ConcurrentChange(Exception):
    """When the service changed between the tool's read and its write"""


def to_state(service: Any) -> ServiceState:
    from google.cloud import run_v2

    latest = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    statuses = list(service.traffic_statuses)
    return ServiceState(
        name=service.name,
        uri=service.uri,
        etag=service.etag,
        routes=tuple(
            Route(short(s.revision) or short(service.latest_ready_revision), s.percent, s.tag)
            for s in statuses
        ),
        follows_latest=any(t.type_ == latest for t in service.traffic),
        latest_ready=short(service.latest_ready_revision),
        latest_created=short(service.latest_created_revision),
        tag_urls={s.tag: s.uri for s in statuses if s.tag and s.uri},
    )


def to_revision(revision: Any) -> RevisionInfo:
    from google.cloud import run_v2

    ready = next((c for c in revision.conditions if c.type_ == "Ready"), None)
    succeeded = run_v2.Condition.State.CONDITION_SUCCEEDED
    created = revision.create_time
    return RevisionInfo(
        name=short(revision.name),
        created=created if isinstance(created, datetime) else None,
        ready=ready is not None and ready.state == succeeded,
        reason=ready.message if ready is not None else "no Ready condition",
    )
