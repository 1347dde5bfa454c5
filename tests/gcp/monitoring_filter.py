"""Evaluate the Monitoring filters the program writes against a time series' labels.

Only the subset the program uses: `key = "value"` clauses joined by AND. Anything else raises,
so a filter written differently fails the tests instead of being misread. The labels a Cloud Run
response gets are those Google documents for `run.googleapis.com/request_count` on the
`cloud_run_revision` resource: the status the container (or Cloud Run itself) answered, as
`response_code` and as its class `response_code_class` ("5xx").
"""

from __future__ import annotations

import re
from collections.abc import Mapping

CLAUSE = re.compile(r'^([a-z_.]+) = "([^"]*)"$')


def matches(filter_: str, labels: Mapping[str, str]) -> bool:
    for clause in filter_.split(" AND "):
        parsed = CLAUSE.match(clause.strip())
        if parsed is None:
            raise ValueError(f"the test evaluator does not understand {clause!r}")
        key, value = parsed.groups()
        if labels.get(key) != value:
            return False
    return True


def request_count_labels(service: str, status: int) -> dict[str, str]:
    """The labels of the request_count series one response of `status` is counted in."""
    return {
        "metric.type": "run.googleapis.com/request_count",
        "resource.type": "cloud_run_revision",
        "resource.labels.service_name": service,
        "metric.labels.response_code": str(status),
        "metric.labels.response_code_class": f"{status // 100}xx",
    }
