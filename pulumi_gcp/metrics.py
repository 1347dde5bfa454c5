"""Which Cloud Run metrics the alert policies and the dashboard read, and how to select them.

A 2nd gen function is served by a Cloud Run service of the same name: its request and container
metrics are on the `cloud_run_revision` resource, one series per revision (and label values).
"""

from __future__ import annotations

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"  # distribution, milliseconds
INSTANCE_COUNT = "run.googleapis.com/container/instance_count"  # by state: active, idle
STARTUP_LATENCIES = "run.googleapis.com/container/startup_latencies"  # milliseconds
CONCURRENCY = "run.googleapis.com/container/max_request_concurrencies"
MEMORY = "run.googleapis.com/container/memory/utilizations"
CPU = "run.googleapis.com/container/cpu/utilizations"

# Cloud Run labels each request with the status the container, or Cloud Run itself, answered.
SERVER_ERRORS = 'metric.labels.response_code_class = "5xx"'
THROTTLED = 'metric.labels.response_code = "429"'
GROUP_BY_SERVICE = ["resource.labels.service_name"]


def service_filter(metric: str, service_name: str, extra: str = "") -> str:
    """A Monitoring filter for one metric of one Cloud Run service."""
    parts = [
        f'metric.type = "{metric}"',
        'resource.type = "cloud_run_revision"',
        f'resource.labels.service_name = "{service_name}"',
    ]
    if extra:
        parts.append(extra)
    return " AND ".join(parts)
