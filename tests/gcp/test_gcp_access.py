"""Who may invoke, and the optional alert e-mail: example stacks plus config overrides."""

from __future__ import annotations

import pytest
from test_gcp_program import ALERT, CHANNEL, FUNCTION, RUN_INVOKER


def invoker_members(graph) -> dict[str, str]:
    """The callers granted run.invoker, less the uptime checker (test_gcp_uptime.py)."""
    return {
        r.state["member"]: r.state["role"]
        for r in graph.of_type(RUN_INVOKER)
        if not r.name.endswith("uptime-check")
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_example_stacks_are_private(graphs, stack):
    graph = graphs[stack]
    assert invoker_members(graph) == {}, [r.urn for r in graph.of_type(RUN_INVOKER)]
    assert graph.outputs["public"] is False
    assert "gcloud auth print-identity-token" in graph.outputs["curl"]


def test_public_grants_run_invoker_to_all_users_on_the_service(program):
    graph = program("dev", "public=true")
    [binding] = graph.of_type(RUN_INVOKER)
    assert (binding.state["member"], binding.state["role"]) == ("allUsers", "roles/run.invoker")
    # The Cloud Run service behind a 2nd gen function carries the function's name.
    assert binding.state["name"] == graph.one(FUNCTION).state["name"], binding.urn
    assert binding.state["location"] == "us-central1", binding.urn
    assert "Authorization" not in graph.outputs["curl"]


def test_private_by_default_without_any_access_setting(program):
    graph = program("prod", "public=", "invokers=")
    assert "allUsers" not in invoker_members(graph)


def test_configured_members_each_get_run_invoker(program):
    members = '["serviceAccount:caller@acme.iam.gserviceaccount.com", "group:ml@acme.com"]'
    graph = program("prod", f"invokers={members}")
    assert invoker_members(graph) == {
        "serviceAccount:caller@acme.iam.gserviceaccount.com": "roles/run.invoker",
        "group:ml@acme.com": "roles/run.invoker",
    }


def test_alert_email_creates_a_channel_every_policy_notifies(program):
    graph = program("prod", "alertEmail=oncall@acme.com")
    channel = graph.one(CHANNEL)
    assert channel.state["type"] == "email"
    assert channel.state["labels"] == {"email_address": "oncall@acme.com"}, channel.urn
    for policy in graph.of_type(ALERT):
        assert policy.state["notificationChannels"] == [channel.id], policy.urn


def test_api_enablement_can_be_left_to_a_central_team(program):
    graph = program("prod", "enableApis=false")
    assert graph.of_type("gcp:projects/service:Service") == []
    assert graph.one(FUNCTION)  # the rest deploys as before


def test_a_valid_combination_reaches_the_function(program):
    service = program("prod", "concurrency=4").one(FUNCTION).state["serviceConfig"]
    assert service["maxInstanceRequestConcurrency"] == 4
    assert service["environmentVariables"]["THREADS"] == "4"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["cpu=0.5"], "Pulumi.prod.yaml: concurrency 8 needs cpu >= 1"),
        (
            ["public=true", 'invokers=["user:a@acme.com"]'],
            "Pulumi.prod.yaml: set either public or invokers, not both",
        ),
    ],
)
def test_invalid_combinations_fail_before_anything_deploys(refusal, overrides, message):
    assert any(line.startswith(message) for line in refusal("prod", *overrides))
