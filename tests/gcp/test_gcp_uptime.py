"""The uptime check on each function's /health and the policy on it: the counterpart of the AWS
health-check alarm, which sees an idle outage and treats missing data as breaching."""

from __future__ import annotations

import pytest
from monitoring_filter import matches
from program_runs import STACKS, Graph
from test_gcp_program import ALERT, FUNCTION, RUN_INVOKER

UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"
each_stack = pytest.mark.parametrize("stack", STACKS)


def checks_by_host(graph: Graph) -> dict[str, object]:
    return {c.state["monitoredResource"]["labels"]["host"]: c for c in graph.of_type(UPTIME)}


def service_host(fn) -> str:
    return fn.state["serviceConfig"]["uri"].removeprefix("https://")


def uptime_policy(graph: Graph, check) -> dict:
    """The one policy whose condition reads this check's results."""
    found = [
        p
        for p in graph.of_type(ALERT)
        for c in p.state["conditions"]
        if f'check_id = "{check.state["uptimeCheckId"]}"'
        in c.get("conditionThreshold", {}).get("filter", "")
    ]
    assert len(found) == 1, f"expected one policy on {check.urn}, found {[p.urn for p in found]}"
    return found[0].state


def assert_every_function_is_checked(graph: Graph) -> None:
    checks = checks_by_host(graph)
    functions = graph.of_type(FUNCTION)
    assert functions and len(checks) == len(functions)
    for fn in functions:
        check = checks[service_host(fn)]
        http = check.state["httpCheck"]
        assert (http["path"], http["useSsl"], http["port"]) == ("/health", True, 443), check.urn
        assert check.state["period"] == "60s", check.urn
        # 200 is not enough: /health says "ok" only with the model loaded and verified.
        assert check.state["contentMatchers"] == [
            {"content": '"status":"ok"', "matcher": "CONTAINS_STRING"}
        ], check.urn
        uptime_policy(graph, check)


@each_stack
def test_every_function_has_an_uptime_check_on_health_with_a_policy(graphs, stack):
    assert_every_function_is_checked(graphs[stack])


def test_every_models_function_has_its_own_check(program, two_models):
    assert_every_function_is_checked(program("prod", f"modelsFile={two_models}"))


@each_stack
def test_the_policy_fires_when_checks_fail_or_stop_reporting(graphs, stack):
    graph = graphs[stack]
    [check] = graph.of_type(UPTIME)
    [condition] = uptime_policy(graph, check)["conditions"]
    rule = condition["conditionThreshold"]
    # More than one failing location (one location's network trouble does not page) ...
    [aggregation] = rule["aggregations"]
    assert (aggregation["perSeriesAligner"], aggregation["crossSeriesReducer"]) == (
        "ALIGN_NEXT_OLDER",
        "REDUCE_COUNT_FALSE",
    )
    assert (rule["comparison"], rule["thresholdValue"]) == ("COMPARISON_GT", 1)
    # ... or no result at all: missing data is an incident, as AWS's missing data is breaching.
    assert rule["evaluationMissingData"] == "EVALUATION_MISSING_DATA_ACTIVE"


@each_stack
def test_the_policy_reads_this_checks_results_and_no_others(graphs, stack):
    graph = graphs[stack]
    [check] = graph.of_type(UPTIME)
    [condition] = uptime_policy(graph, check)["conditions"]
    query = condition["conditionThreshold"]["filter"]

    def result(check_id: str) -> dict[str, str]:
        # The labels of a check_passed series (Google's metric list: uptime_check/check_passed,
        # on the uptime_url resource, labelled by check_id and checker_location).
        return {
            "metric.type": "monitoring.googleapis.com/uptime_check/check_passed",
            "resource.type": "uptime_url",
            "metric.labels.check_id": check_id,
            "metric.labels.checker_location": "us-iowa",
        }

    assert matches(query, result(check.state["uptimeCheckId"]))
    assert not matches(query, result("another-check"))


@each_stack
def test_a_private_function_is_checked_as_the_monitoring_agent_it_admits(graphs, stack):
    # The example stacks are private: the check sends an identity token of the Monitoring
    # service agent, and only that agent (no one else) is added as an invoker for it.
    graph = graphs[stack]
    [check] = graph.of_type(UPTIME)
    auth = check.state["httpCheck"]["serviceAgentAuthentication"]
    assert auth == {"type": "OIDC_TOKEN"}, check.urn
    agent = graph.one(IDENTITY)
    assert agent.state["service"] == "monitoring.googleapis.com"
    [grant] = [r for r in graph.of_type(RUN_INVOKER) if r.name.endswith("uptime-check")]
    assert (grant.state["member"], grant.state["role"]) == (
        agent.state["member"],
        "roles/run.invoker",
    )
    assert grant.state["name"] == graph.one(FUNCTION).state["name"], grant.urn
    # The first checks would fail with 403 until the grant holds: the check waits for it.
    assert grant.urn in check.dependencies, check.urn


def test_a_public_function_is_checked_without_a_token_or_grant(program, fake_root):
    graph = program("dev", f"sourceRoot={fake_root}", "public=true")
    [check] = graph.of_type(UPTIME)
    assert "serviceAgentAuthentication" not in check.state["httpCheck"], check.urn
    assert [r.state["member"] for r in graph.of_type(RUN_INVOKER)] == ["allUsers"]
