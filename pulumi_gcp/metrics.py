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
GROUP_BY_SERVICE = ["resource.labels.service_name"]

# An uptime check's result, one series per checker location (uptime.py).
CHECK_PASSED = "monitoring.googleapis.com/uptime_check/check_passed"

# Requests Cloud Run refused for want of an instance never reach one, so request_count does not
# count them: Google's metric list describes it as "Number of requests reaching the revision.
# Excludes requests that are not reaching your container instances (e.g. unauthorized requests
# or when maximum number of instances is reached)" (cloud.google.com/monitoring/api/metrics_gcp,
# run.googleapis.com/request_count). Cloud Run still writes each one to the service's request
# log (logName .../logs/run.googleapis.com%2Frequests) with the status it answered and this
# text: 429 when every instance was busy and max instances was reached, 500 when scale-out could
# not keep up with a spike (cloud.google.com/run/docs/troubleshooting, "HTTP 429" and "HTTP 500:
# ... no available instance"). The handler never answers 429 itself (handler/errors.py).
REQUESTS_LOG = "run.googleapis.com%2Frequests"
NO_INSTANCE = "The request was aborted because there was no available instance"


def refused_requests_filter(project: str, service_name: str) -> str:
    """A Logging query for the request-log entries of requests Cloud Run refused."""
    return " AND ".join(
        [
            'resource.type = "cloud_run_revision"',
            f'resource.labels.service_name = "{service_name}"',
            f'logName = "projects/{project}/logs/{REQUESTS_LOG}"',
            f'(httpRequest.status = 429 OR textPayload : "{NO_INSTANCE}")',
        ]
    )


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
