"""The Cloud Monitoring dashboard's definition: the counterpart of the AWS stack's dashboard.

| AWS widget | here |
| --- | --- |
| alarm status | one alert chart per policy (open incidents over time) |
| invocations, API requests, API 4xx / 5xx | requests per second by response class; 5xx per 5 min |
| throttles | the request-log entries of requests Cloud Run refused for lack of instances |
| duration p50 / p99, API latency | service-wide request latency p50 / p95 / p99 (no start-up) |
| concurrent executions, provisioned concurrency | instances by state (active / idle) |
| cold starts, init duration | container startup latency p50 / p99 |
| | concurrent requests per instance, memory and CPU utilization (per-instance limits) |
| | the function's error log lines |

Percentiles are computed as the alert policy does (monitoring.py): distributions merged across
revisions (ALIGN_DELTA, then REDUCE_PERCENTILE_*), so the chart shows what the alert sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from metrics import (
    CONCURRENCY,
    CPU,
    GROUP_BY_SERVICE,
    INSTANCE_COUNT,
    MEMORY,
    REQUEST_COUNT,
    REQUEST_LATENCIES,
    SERVER_ERRORS,
    STARTUP_LATENCIES,
    refused_requests_filter,
    service_filter,
)

if TYPE_CHECKING:  # monitoring.py imports this module: no import cycle at run time
    from monitoring import MonitoringArgs

COLUMNS = 48
TILE = 16  # three tiles a row


def _series(
    service: str,
    metric: str,
    *,
    extra: str = "",
    aligner: str,
    reducer: str,
    period: str = "60s",
    group_by: list[str] | None = None,
    legend: str = "",
) -> dict[str, Any]:
    return {
        "plotType": "LINE",
        "legendTemplate": legend,
        "minAlignmentPeriod": period,
        "timeSeriesQuery": {
            "timeSeriesFilter": {
                "filter": service_filter(metric, service, extra),
                "aggregation": {
                    "alignmentPeriod": period,
                    "perSeriesAligner": aligner,
                    "crossSeriesReducer": reducer,
                    "groupByFields": group_by if group_by is not None else GROUP_BY_SERVICE,
                },
            }
        },
    }


def _percentiles(service: str, metric: str, *percentiles: int) -> list[dict[str, Any]]:
    return [
        _series(
            service,
            metric,
            aligner="ALIGN_DELTA",
            reducer=f"REDUCE_PERCENTILE_{p:02d}",
            legend=f"p{p}",
        )
        for p in percentiles
    ]


def _chart(
    title: str, datasets: list[dict[str, Any]], *, unit: str, threshold: float | None = None
) -> dict[str, Any]:
    chart: dict[str, Any] = {
        "dataSets": datasets,
        "yAxis": {"label": unit, "scale": "LINEAR"},
    }
    if threshold is not None:
        chart["thresholds"] = [{"value": threshold, "label": "limit", "targetAxis": "Y1"}]
    return {"title": title, "xyChart": chart}


def charts(args: MonitoringArgs, alert_policies: Mapping[str, str]) -> list[dict[str, Any]]:
    """The charts in reading order: alerts, traffic and errors, latency and scaling, limits."""
    fn = args.function_name
    return [
        *(
            {"title": f"Alert: {title}", "alertChart": {"name": name}}
            for title, name in alert_policies.items()
        ),
        _chart(
            "Requests per second by response class",
            [
                _series(
                    fn,
                    REQUEST_COUNT,
                    aligner="ALIGN_RATE",
                    reducer="REDUCE_SUM",
                    group_by=["metric.labels.response_code_class"],
                )
            ],
            unit="req/s",
        ),
        _chart(
            f"5xx responses per 5 min (alert above {args.server_errors})",
            [
                _series(
                    fn,
                    REQUEST_COUNT,
                    extra=SERVER_ERRORS,
                    aligner="ALIGN_DELTA",
                    reducer="REDUCE_SUM",
                    period="300s",
                )
            ],
            unit="responses",
            threshold=args.server_errors,
        ),
        {
            # request_count never counts these: they are read from the request log.
            "title": "Requests refused for lack of instances (request log)",
            "logsPanel": {
                "filter": refused_requests_filter(args.project, fn),
                "resourceNames": [f"projects/{args.project}"],
            },
        },
        _chart(
            "Request latency, service-wide (ms; container start-up not included)",
            _percentiles(fn, REQUEST_LATENCIES, 50, 95, 99),
            unit="ms",
            threshold=args.latency_p99_ms,
        ),
        _chart(
            f"Instances by state (maxInstances {args.max_instances})",
            [
                _series(
                    fn,
                    INSTANCE_COUNT,
                    aligner="ALIGN_MAX",
                    reducer="REDUCE_SUM",
                    group_by=["metric.labels.state"],
                )
            ],
            unit="instances",
            threshold=args.max_instances,
        ),
        _chart(
            "Container startup latency: cold starts (ms)",
            _percentiles(fn, STARTUP_LATENCIES, 50, 99),
            unit="ms",
        ),
        _chart(
            f"Concurrent requests per instance (concurrency {args.concurrency})",
            _percentiles(fn, CONCURRENCY, 50, 99),
            unit="requests",
            threshold=args.concurrency,
        ),
        _chart("Memory utilization per instance", _percentiles(fn, MEMORY, 50, 99), unit="ratio"),
        _chart("CPU utilization per instance", _percentiles(fn, CPU, 50, 99), unit="ratio"),
    ]


def error_logs(args: MonitoringArgs) -> dict[str, Any]:
    return {
        "title": "Error log lines",
        "logsPanel": {
            "filter": (
                f'resource.type="cloud_run_revision" AND '
                f'resource.labels.service_name="{args.function_name}" AND severity>=ERROR'
            ),
            "resourceNames": [f"projects/{args.project}"],
        },
    }


def layout(charts: list[dict[str, Any]], footer: dict[str, Any]) -> dict[str, Any]:
    """Mosaic tiles: the charts three a row, then the footer across a whole row."""
    tiles = [
        {"xPos": i % 3 * TILE, "yPos": i // 3 * TILE, "width": TILE, "height": TILE, "widget": w}
        for i, w in enumerate(charts)
    ]
    rows = -(-len(charts) // 3)
    tiles.append(
        {"xPos": 0, "yPos": rows * TILE, "width": COLUMNS, "height": TILE, "widget": footer}
    )
    return {"columns": COLUMNS, "tiles": tiles}


def dashboard_json(args: MonitoringArgs, alert_policies: Mapping[str, str]) -> str:
    """The dashboard definition; `alert_policies` maps each policy's title to its name."""
    return json.dumps(
        {
            "displayName": f"{args.function_name} (sklearn-inference)",
            "mosaicLayout": layout(charts(args, alert_policies), error_logs(args)),
        },
        sort_keys=True,
    )
