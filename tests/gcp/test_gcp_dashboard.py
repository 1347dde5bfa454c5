"""The Cloud Monitoring dashboard: the AWS dashboard's counterpart, charting what the alerts see."""

from __future__ import annotations

import json

import pytest
from program_runs import STACKS, Graph
from test_gcp_program import ALERT

DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
pytestmark = pytest.mark.parametrize("stack", STACKS)


def tiles(graph: Graph) -> list[dict]:
    definition = json.loads(graph.one(DASHBOARD).state["dashboardJson"])
    assert definition["mosaicLayout"]["columns"] == 48
    return definition["mosaicLayout"]["tiles"]


def chart(graph: Graph, title_start: str) -> dict:
    [found] = [t["widget"] for t in tiles(graph) if t["widget"]["title"].startswith(title_start)]
    return found["xyChart"]


def aggregations(xy_chart: dict) -> list[dict]:
    return [d["timeSeriesQuery"]["timeSeriesFilter"]["aggregation"] for d in xy_chart["dataSets"]]


def test_alert_charts_show_every_alert_policy(graphs, stack):
    graph = graphs[stack]
    charted = [
        t["widget"]["alertChart"]["name"] for t in tiles(graph) if "alertChart" in t["widget"]
    ]
    assert sorted(charted) == sorted(p.state["name"] for p in graph.of_type(ALERT))
    assert len(charted) == 4  # errors, latency, refused requests, uptime


def test_latency_chart_is_the_alerts_service_wide_percentiles(graphs, stack):
    latency = chart(graphs[stack], "Request latency")
    assert [(a["perSeriesAligner"], a["crossSeriesReducer"]) for a in aggregations(latency)] == [
        ("ALIGN_DELTA", "REDUCE_PERCENTILE_50"),
        ("ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
        ("ALIGN_DELTA", "REDUCE_PERCENTILE_99"),
    ]
    assert latency["thresholds"][0]["value"] == 1000


def test_latency_chart_says_what_the_metric_leaves_out(graphs, stack):
    # request_latencies excludes container start-up (Google's metric list): the chart must not
    # claim cold-start waits, and points to the startup chart that has them.
    [title] = [
        t["widget"]["title"]
        for t in tiles(graphs[stack])
        if t["widget"]["title"].startswith("Request latency")
    ]
    assert "start-up not included" in title
    assert "includes waits" not in title


def test_scaling_charts_mark_the_configured_limits(graphs, stack):
    graph = graphs[stack]
    max_instances = {"dev": 3, "prod": 20}[stack]
    assert chart(graph, "Instances by state")["thresholds"][0]["value"] == max_instances
    assert chart(graph, "Concurrent requests per instance")["thresholds"][0]["value"] == 8
    assert chart(graph, "5xx responses per 5 min")["thresholds"][0]["value"] == 5


def test_every_chart_reads_only_this_functions_service(graphs, stack):
    service = f'resource.labels.service_name = "sklearn-inference-{stack}"'
    for tile in tiles(graphs[stack]):
        for dataset in tile["widget"].get("xyChart", {}).get("dataSets", []):
            assert service in dataset["timeSeriesQuery"]["timeSeriesFilter"]["filter"], tile


def test_refused_requests_and_cold_starts_have_their_tiles(graphs, stack):
    graph = graphs[stack]
    # request_count never counts a refused request: the dashboard reads the request log, with
    # the alert's own filter.
    [refused] = [
        t["widget"] for t in tiles(graph) if t["widget"]["title"].startswith("Requests refused")
    ]
    policy = graph.one(ALERT, "monitoring-throttled")
    [condition] = policy.state["conditions"]
    assert refused["logsPanel"]["filter"] == condition["conditionMatchedLog"]["filter"]
    startup = chart(graph, "Container startup latency")["dataSets"][0]
    assert (
        "run.googleapis.com/container/startup_latencies"
        in (startup["timeSeriesQuery"]["timeSeriesFilter"]["filter"])
    )


def test_tiles_fit_the_grid_without_overlapping(graphs, stack):
    occupied: set[tuple[int, int]] = set()
    for tile in tiles(graphs[stack]):
        x, y = tile.get("xPos", 0), tile.get("yPos", 0)
        assert x + tile["width"] <= 48, tile["widget"]["title"]
        cells = {
            (col, row)
            for col in range(x, x + tile["width"])
            for row in range(y, y + tile["height"])
        }
        assert not cells & occupied, tile["widget"]["title"]
        occupied |= cells


def test_stack_output_links_to_the_dashboard(graphs, stack):
    graph = graphs[stack]
    dashboard_id = graph.one(DASHBOARD).id.rsplit("/", 1)[-1]
    assert graph.outputs["dashboard_url"] == (
        f"https://console.cloud.google.com/monitoring/dashboards/custom/{dashboard_id}"
        "?project=acme-ml-test"
    )
