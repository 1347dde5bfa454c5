"""CloudWatch metrics as fields of a JSON log line (the embedded metric format, EMF): Lambda's
log pipeline turns them into metrics without an API call on the request path.

Written here rather than through Powertools' Metrics, whose import cost 35-55 ms of a cold
start; the record it wrote is the same. Spec: docs.aws.amazon.com/AmazonCloudWatch/latest/
monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FUNCTION = ("function_name", "service")


@dataclass(frozen=True)
class Metric:
    """A count metric and the dimension sets it is published under. Every dimension name must
    be a field of the log line the metric rides on."""

    name: str
    dimensions: tuple[tuple[str, ...], ...]


# The request that waited for this environment's init (dimensions as Powertools wrote them).
COLD_START = Metric("ColdStart", (FUNCTION,))
# Every response of status 500 or more the handler returns: Lambda's Errors metric never sees
# them, because the handler answers instead of raising. Per version too, so a canary can be
# judged on the version it is shifting to.
SERVER_ERRORS = Metric("ServerErrors", (FUNCTION, (*FUNCTION, "function_version")))
# 1 when a scheduled `{"healthcheck": true}` invoke finds the model loaded, 0 when not.
HEALTH_CHECK = Metric("HealthCheck", (FUNCTION,))


def embedded(namespace: str, values: Mapping[Metric, float]) -> dict[str, Any]:
    """The `_aws` metadata and metric values to merge into a log line."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions) for dimensions in metric.dimensions],
                    "Metrics": [{"Name": metric.name, "Unit": "Count"}],
                }
                for metric in values
            ],
        },
        **{metric.name: value for metric, value in values.items()},
    }
