"""Fakes of the Google APIs the release tool calls, answering in the shapes Google documents:
Cloud Run Admin API v2 `Service` (traffic, trafficStatuses, latestReadyRevision, etag),
`Revision` (createTime, conditions) and the long-running `Operation` of an update; Cloud
Monitoring `TimeSeries`. Messages are parsed from their REST JSON with the client libraries'
own types, so a field the tool reads under the wrong name fails here as it would there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.cloud import monitoring_v3, run_v2
from monitoring_filter import matches

PROJECT, REGION = "acme-ml-test", "us-central1"
REVISION_TYPE = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
LATEST_TYPE = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


def service_path(service: str) -> str:
    return f"projects/{PROJECT}/locations/{REGION}/services/{service}"


class FakeOperation:
    """A finished google.longrunning Operation whose response is the updated Service."""

    def __init__(self, service: dict[str, Any], number: int):
        self.operation = {
            "name": f"projects/{PROJECT}/locations/{REGION}/operations/op-{number}",
            "done": True,
            "response": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", **service},
        }

    def result(self, timeout: float | None = None) -> run_v2.Service:
        response = {k: v for k, v in self.operation["response"].items() if k != "@type"}
        return run_v2.Service.from_json(json.dumps(response))


@dataclass
class FakeCloudRun:
    """One Cloud Run service and its revisions, as ServicesClient and RevisionsClient."""

    service: str
    revisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    traffic: list[dict[str, Any]] = field(default_factory=list)
    generation: int = 1
    updates: list[list[dict[str, Any]]] = field(default_factory=list)  # each traffic written

    @classmethod
    def serving(cls, service: str, *revisions: str, follows_latest: bool = False) -> FakeCloudRun:
        """A service whose last revision serves all traffic (by name, or through LATEST)."""
        fake = cls(service)
        for name in revisions:
            fake.deploy(name)
        if follows_latest:
            fake.traffic = [{"type": LATEST_TYPE, "percent": 100}]
        else:
            fake.traffic = [{"type": REVISION_TYPE, "revision": revisions[-1], "percent": 100}]
        return fake

    def deploy(self, name: str, ready: bool = True) -> None:
        """What `pulumi up` of a new revision does: traffic is untouched unless it follows
        LATEST (the provider: "the new deployment will become LATEST and intercept the
        traffic")."""
        state = "CONDITION_SUCCEEDED" if ready else "CONDITION_FAILED"
        self.revisions[name] = {
            "name": f"{service_path(self.service)}/revisions/{name}",
            "createTime": f"2026-05-0{len(self.revisions) + 1}T10:00:00Z",
            "conditions": [
                {
                    "type": "Ready",
                    "state": state,
                    "message": "" if ready else "Container failed to start and listen on PORT",
                }
            ],
        }

    @property
    def latest_created(self) -> str:
        return list(self.revisions)[-1]

    @property
    def latest_ready(self) -> str:
        ready = [
            n
            for n, r in self.revisions.items()
            if r["conditions"][0]["state"].endswith("SUCCEEDED")
        ]
        return ready[-1]

    def tag_url(self, tag: str) -> str:
        return f"https://{tag}---{self.service}-abc123def4-uc.a.run.app"

    def document(self) -> dict[str, Any]:
        statuses = []
        for target in self.traffic:
            status = dict(target)
            if target["type"] == LATEST_TYPE:
                status["revision"] = self.latest_ready
            if target.get("tag"):
                status["uri"] = self.tag_url(target["tag"])
            statuses.append(status)
        return {
            "name": service_path(self.service),
            "uri": f"https://{self.service}-abc123def4-uc.a.run.app",
            "etag": f'"{self.generation}"',
            "traffic": self.traffic,
            "trafficStatuses": statuses,
            "latestReadyRevision": f"{service_path(self.service)}/revisions/{self.latest_ready}",
            "latestCreatedRevision": f"{service_path(self.service)}/revisions/{self.latest_created}",
        }

    # ServicesClient
    def get_service(self, name: str) -> run_v2.Service:
        assert name == service_path(self.service), name
        return run_v2.Service.from_json(json.dumps(self.document()))

    def update_service(self, request: run_v2.UpdateServiceRequest) -> FakeOperation:
        sent = json.loads(
            run_v2.Service.to_json(
                request.service,
                use_integers_for_enums=False,
                always_print_fields_with_no_presence=False,
            )
        )
        assert sent["etag"] == f'"{self.generation}"', "an update must carry the etag it read"
        self.traffic = [
            {k: v for k, v in t.items() if k in ("type", "revision", "percent", "tag")}
            for t in sent.get("traffic", [])
        ]
        assert sum(t.get("percent", 0) for t in self.traffic) == 100, self.traffic
        assert all(t["revision"] in self.revisions for t in self.traffic if "revision" in t)
        self.generation += 1
        self.updates.append(self.traffic)
        return FakeOperation(self.document(), self.generation)

    # RevisionsClient
    def get_revision(self, name: str) -> run_v2.Revision:
        from google.api_core.exceptions import NotFound

        short = name.rsplit("/", 1)[-1]
        if short not in self.revisions:
            raise NotFound(name)
        return run_v2.Revision.from_json(json.dumps(self.revisions[short]))

    def list_revisions(self, parent: str) -> list[run_v2.Revision]:
        return [run_v2.Revision.from_json(json.dumps(r)) for r in self.revisions.values()]

    def split(self) -> dict[str, int]:
        """revision -> percent of what serves now, tags aside."""
        statuses = self.document()["trafficStatuses"]
        return {s["revision"]: s["percent"] for s in statuses if s.get("percent")}

    def tags(self) -> list[str]:
        return [t["tag"] for t in self.traffic if t.get("tag")]


@dataclass
class FakeMonitoring:
    """MetricServiceClient.list_time_series over per-revision figures: requests by response
    class and a p99, answered as aggregated TimeSeries of the requested metric."""

    service: str
    requests: dict[str, dict[str, int]] = field(default_factory=dict)  # revision -> class -> n
    p99_ms: dict[str, float] = field(default_factory=dict)
    filters: list[str] = field(default_factory=list)

    def list_time_series(self, request: monitoring_v3.ListTimeSeriesRequest) -> list[Any]:
        self.filters.append(request.filter)
        found = []
        revisions = set(self.requests) | set(self.p99_ms)
        for revision in sorted(revisions):
            for code_class, count in self.requests.get(revision, {}).items():
                labels = self._labels("run.googleapis.com/request_count", revision, code_class)
                if matches(request.filter, labels):
                    found.append(("int64Value", str(count), revision))
            labels = self._labels("run.googleapis.com/request_latencies", revision, "2xx")
            if revision in self.p99_ms and matches(request.filter, labels):
                found.append(("doubleValue", self.p99_ms[revision], revision))
        return [self._series(kind, value, revision) for kind, value, revision in found]

    def _labels(self, metric: str, revision: str, code_class: str) -> dict[str, str]:
        return {
            "metric.type": metric,
            "resource.type": "cloud_run_revision",
            "resource.labels.service_name": self.service,
            "resource.labels.revision_name": revision,
            "metric.labels.response_code_class": code_class,
        }

    def _series(self, kind: str, value: Any, revision: str) -> monitoring_v3.TimeSeries:
        document = {
            "metric": {"type": "run.googleapis.com/request_count"},
            "resource": {
                "type": "cloud_run_revision",
                "labels": {"project_id": PROJECT, "revision_name": revision},
            },
            "metricKind": "DELTA",
            "valueType": "INT64" if kind == "int64Value" else "DOUBLE",
            "points": [
                {
                    "interval": {
                        "startTime": "2026-05-04T10:00:00Z",
                        "endTime": "2026-05-04T10:08:00Z",
                    },
                    "value": {kind: value},
                }
            ],
        }
        return monitoring_v3.TimeSeries.from_json(json.dumps(document))
