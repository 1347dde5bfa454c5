"""Alert policies: what each one counts, when it fires, and what it tells the person it pages."""

from __future__ import annotations

import re

import pytest
from monitoring_filter import log_matches, matches, request_count_labels
from program_runs import REPO_ROOT, STACKS, Graph
from served_bundle import extract_bundle, reference_case, serve
from test_gcp_program import ALERT, CHANNEL

from handler import errors

POLICIES = ("server-errors", "latency-p99", "throttled", "uptime")
METRIC_POLICIES = ("server-errors", "latency-p99")
each_stack = pytest.mark.parametrize("stack", STACKS)


def threshold(graph: Graph, suffix: str) -> dict:
    [condition] = graph.one(ALERT, f"monitoring-{suffix}").state["conditions"]
    return condition["conditionThreshold"]


# --- what each policy counts and when it fires ------------------------------------------------


@each_stack
def test_server_error_alert_counts_5xx_of_the_function_service(graphs, stack):
    rule = threshold(graphs[stack], "server-errors")
    assert 'metric.type = "run.googleapis.com/request_count"' in rule["filter"]
    assert 'metric.labels.response_code_class = "5xx"' in rule["filter"]
    assert f'resource.labels.service_name = "sklearn-inference-{stack}"' in rule["filter"]
    assert 'resource.type = "cloud_run_revision"' in rule["filter"]


@each_stack
def test_server_error_alert_fires_above_5_in_5_minutes(graphs, stack):
    rule = threshold(graphs[stack], "server-errors")
    [aggregation] = rule["aggregations"]
    assert aggregation == {
        "alignmentPeriod": "300s",
        "perSeriesAligner": "ALIGN_DELTA",
        "crossSeriesReducer": "REDUCE_SUM",
        "groupByFields": ["resource.labels.service_name"],
    }
    assert (rule["comparison"], rule["thresholdValue"], rule["duration"]) == (
        "COMPARISON_GT",
        5,
        "0s",
    )


@each_stack
def test_latency_alert_is_the_service_wide_p99_not_the_worst_series(graphs, stack):
    # Each revision and response code is its own series: a per-series p99 reduced by MAX lets
    # one low-volume series fire. Merge the distributions first, as Google's Cloud Run
    # dashboards do: ALIGN_DELTA, then REDUCE_PERCENTILE_99 grouped by service.
    rule = threshold(graphs[stack], "latency-p99")
    assert 'metric.type = "run.googleapis.com/request_latencies"' in rule["filter"]
    assert f'resource.labels.service_name = "sklearn-inference-{stack}"' in rule["filter"]
    [aggregation] = rule["aggregations"]
    assert aggregation == {
        "alignmentPeriod": "300s",
        "perSeriesAligner": "ALIGN_DELTA",
        "crossSeriesReducer": "REDUCE_PERCENTILE_99",
        "groupByFields": ["resource.labels.service_name"],
    }


@each_stack
def test_latency_alert_needs_10_minutes_above_1000_ms(graphs, stack):
    # One slow request moves a 5-minute window's p99 for 5 minutes at most: at low traffic it
    # cannot fire the policy alone (AWS: EvaluateLowSampleCountPercentile and 2 of 3 periods).
    rule = threshold(graphs[stack], "latency-p99")
    assert (rule["comparison"], rule["thresholdValue"], rule["duration"]) == (
        "COMPARISON_GT",
        1000,
        "600s",
    )


@each_stack
def test_refused_request_alert_fires_on_the_first_request_log_entry(graphs, stack):
    # A log-match condition: nothing to aggregate, no log-based metric to wait for.
    policy = graphs[stack].one(ALERT, "monitoring-throttled")
    [condition] = policy.state["conditions"]
    assert "conditionThreshold" not in condition
    query = condition["conditionMatchedLog"]["filter"]
    assert "run.googleapis.com%2Frequests" in query
    assert "run.googleapis.com/request_count" not in query, "request_count never sees them"
    # Google requires a rate limit on log-match policies; they notify on opening only.
    strategy = policy.state["alertStrategy"]
    assert strategy["notificationRateLimit"]["period"] == "300s", policy.urn
    assert strategy["notificationPrompts"] == ["OPENED"], policy.urn


@each_stack
def test_idle_function_raises_no_metric_alert(graphs, stack):
    for suffix in METRIC_POLICIES:
        rule = threshold(graphs[stack], suffix)
        assert rule["evaluationMissingData"] == "EVALUATION_MISSING_DATA_INACTIVE", suffix


# --- the filters against the responses they must (not) count ----------------------------------


@pytest.mark.slow
def test_the_handlers_own_503_is_counted_by_the_server_error_alert(graphs, tmp_path):
    # GIVEN the bundle the program uploads for the model in model/, one byte of its served
    # artifact flipped
    tree = extract_bundle(REPO_ROOT, tmp_path / "function-source")
    artifacts = tree / "model" / "artifacts"
    [model] = [p for p in artifacts.iterdir() if p.name != "manifest.json"]
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    # WHEN the real functions-framework serves a prediction request with one of its rows
    row = reference_case(REPO_ROOT / "model" / "artifacts")["features"]
    [answer] = serve(tree, [("POST", "/", {"features": row})])
    assert (answer["status"], answer["body"]["error"]["code"]) == (503, "model_unavailable")
    # THEN the series Cloud Run counts that response in matches the 5xx policy, and its
    # request-log entry is no refused request
    labels = request_count_labels("sklearn-inference-prod", answer["status"])
    assert matches(threshold(graphs["prod"], "server-errors")["filter"], labels)
    entry = request_log_entry("sklearn-inference-prod", answer["status"])
    assert not log_matches(refused_filter(graphs["prod"]), entry)


@pytest.mark.parametrize("status", [400, 404, 405, 413, 422])
def test_client_errors_are_not_server_errors(graphs, status):
    labels = request_count_labels("sklearn-inference-prod", status)
    assert not matches(threshold(graphs["prod"], "server-errors")["filter"], labels)


def test_another_services_5xx_are_not_counted(graphs):
    labels = request_count_labels("someone-elses-service", 503)
    assert not matches(threshold(graphs["prod"], "server-errors")["filter"], labels)


def refused_filter(graph: Graph) -> str:
    [condition] = graph.one(ALERT, "monitoring-throttled").state["conditions"]
    return condition["conditionMatchedLog"]["filter"]


def request_log_entry(service: str, status: int, text: str | None = None) -> dict:
    """A request-log entry as Cloud Run writes one (Logging's LogEntry, with the
    cloud_run_revision resource and an HttpRequest)."""
    entry = {
        "logName": "projects/acme-ml-test/logs/run.googleapis.com%2Frequests",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "project_id": "acme-ml-test",
                "service_name": service,
                "revision_name": f"{service}-00003-kev",
                "configuration_name": service,
                "location": "us-central1",
            },
        },
        "httpRequest": {
            "requestMethod": "POST",
            "requestUrl": f"https://{service}-abc123def4-uc.a.run.app/",
            "status": status,
            "latency": "0.012s",
            "protocol": "HTTP/1.1",
        },
        "severity": "ERROR" if status >= 500 or text else "INFO",
        "timestamp": "2026-05-04T10:00:00.123456Z",
    }
    if text is not None:
        entry["textPayload"] = text
    return entry


# The text Cloud Run writes with a request it refused (cloud.google.com/run/docs/troubleshooting).
REFUSED = (
    "The request was aborted because there was no available instance. Additional "
    "troubleshooting documentation can be found at: "
    "https://cloud.google.com/run/docs/troubleshooting#abort-request"
)


@pytest.mark.parametrize("status", [429, 500])
def test_the_refused_request_alert_matches_a_refused_requests_log_entry(graphs, status):
    # 429: every instance busy and max instances reached; 500: scale-out could not keep up.
    entry = request_log_entry("sklearn-inference-prod", status, REFUSED)
    assert log_matches(refused_filter(graphs["prod"]), entry)


def test_the_refused_request_alert_ignores_what_the_handler_answers(graphs):
    # The handler's error hierarchy never answers 429; its 503 and 500 are server errors.
    statuses = {
        cls.status
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.RequestError)
    }
    assert 429 not in statuses and {400, 503} <= statuses
    query = refused_filter(graphs["prod"])
    for status in (200, *sorted(statuses)):
        entry = request_log_entry("sklearn-inference-prod", status)
        assert not log_matches(query, entry), status


def test_the_refused_request_alert_ignores_other_services_and_other_logs(graphs):
    query = refused_filter(graphs["prod"])
    assert not log_matches(query, request_log_entry("someone-elses-service", 429, REFUSED))
    # The same words in the function's own stdout are not a request Cloud Run refused.
    stdout = request_log_entry("sklearn-inference-prod", 429, REFUSED)
    stdout["logName"] = "projects/acme-ml-test/logs/run.googleapis.com%2Fstdout"
    assert not log_matches(query, stdout)


# --- what a notification says -----------------------------------------------------------------


@each_stack
def test_every_metric_policy_notifies_when_an_incident_opens_and_when_it_closes(graphs, stack):
    for suffix in (*METRIC_POLICIES, "uptime"):
        policy = graphs[stack].one(ALERT, f"monitoring-{suffix}")
        strategy = policy.state["alertStrategy"]
        assert strategy["notificationPrompts"] == ["OPENED", "CLOSED"], policy.urn


@each_stack
def test_alert_documentation_names_the_real_function_region_and_project(graphs, stack):
    for suffix in POLICIES:
        policy = graphs[stack].one(ALERT, f"monitoring-{suffix}")
        documentation = policy.state["documentation"]
        content = documentation["content"]
        assert f"**sklearn-inference-{stack}** (region us-central1, project acme-ml-test)" in (
            content
        ), policy.urn
        assert not re.search(r"<[a-z]+>", content), f"{policy.urn}: a placeholder is left"
        assert documentation["subject"].startswith(f"[sklearn-inference-{stack}] "), policy.urn
        links = {link["url"] for link in documentation["links"]}
        assert (
            f"https://console.cloud.google.com/run/detail/us-central1/sklearn-inference-{stack}"
            "/metrics?project=acme-ml-test" in links
        ), policy.urn


@each_stack
def test_server_error_documentation_gives_the_logs_query_and_the_rollback(graphs, stack):
    content = graphs[stack].one(ALERT, "monitoring-server-errors").state["documentation"]["content"]
    assert f'resource.labels.service_name="sklearn-inference-{stack}"' in content
    assert f"make rollback-gcp STACK={stack}" in content


@each_stack
def test_no_email_channel_unless_configured(graphs, stack):
    graph = graphs[stack]
    assert graph.of_type(CHANNEL) == []
    assert all(not a.state.get("notificationChannels") for a in graph.of_type(ALERT))
