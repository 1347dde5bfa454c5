"""One revision's requests, 5xx and p99 latency from Cloud Monitoring (google-cloud-monitoring).

The same metrics the stack's alert policies read (pulumi_gcp/metrics.py), filtered on the
revision: `resource.labels.revision_name`. p99 is computed as the alert computes it for the
service: ALIGN_DELTA per series, then REDUCE_PERCENTILE_99 across them.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from .canary import Evidence

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
SERVER_ERRORS = 'metric.labels.response_code_class = "5xx"'


def revision_filter(metric: str, service: str, revision: str, extra: str = "") -> str:
    parts = [
        f'metric.type = "{metric}"',
        'resource.type = "cloud_run_revision"',
        f'resource.labels.service_name = "{service}"',
        f'resource.labels.revision_name = "{revision}"',
    ]
    return " AND ".join([*parts, extra] if extra else parts)


class RevisionMetrics:
    """Reads through a `monitoring_v3.MetricServiceClient` (or anything with its
    `list_time_series(request=...)`)."""

    def __init__(self, client: Any, project: str, service: str):
        self.client, self.project, self.service = client, project, service

    def evidence(self, revision: str, start: datetime, end: datetime) -> Evidence:
        requests = self._total(revision, start, end)
        errors = self._total(revision, start, end, SERVER_ERRORS)
        p99 = self._values(
            revision_filter(REQUEST_LATENCIES, self.service, revision),
            start,
            end,
            "REDUCE_PERCENTILE_99",
        )
        finite = [v for v in p99 if math.isfinite(v)]
        return Evidence(int(requests), int(errors), max(finite) if finite else None)

    def _total(self, revision: str, start: datetime, end: datetime, extra: str = "") -> float:
        query = revision_filter(REQUEST_COUNT, self.service, revision, extra)
        return sum(self._values(query, start, end, "REDUCE_SUM"))

    def _values(self, query: str, start: datetime, end: datetime, reducer: str) -> list[float]:
        from google.cloud import monitoring_v3

        # One point for the whole window (Monitoring wants whole minutes, at least one).
        seconds = max(60, math.ceil((end - start).total_seconds() / 60) * 60)
        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{self.project}",
            filter=query,
            interval=monitoring_v3.TimeInterval(start_time=start, end_time=end),
            aggregation=monitoring_v3.Aggregation(
                alignment_period={"seconds": seconds},
                per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
                cross_series_reducer=getattr(monitoring_v3.Aggregation.Reducer, reducer),
                group_by_fields=["resource.labels.revision_name"],
            ),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        )
        values = []
        for series in self.client.list_time_series(request=request):
            for point in series.points:
                value = point.value
                values.append(float(value.int64_value or value.double_value))
        return values
