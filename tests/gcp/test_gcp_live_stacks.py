"""This repository's stacks as its files make them: whatever Pulumi.yaml, Pulumi.<stack>.yaml and
models.toml say (a fork's names, region, sizes, thresholds and models), the program deploys it.

Every expectation is derived from those files, read the way the program reads them
(config.load, config.model_configs): these tests pass for any valid settings and any number of
models, and fail when a setting in force does not reach the resources. The fixed values of the
reference stacks are test_gcp_snapshot.py's alone.
"""

from __future__ import annotations

import pytest
from program_modules import load
from program_runs import STACKS, Graph
from test_gcp_program import ALERT, FUNCTION, REPOSITORY, RUN_INVOKER

from model import catalog

config = load("config")
each_stack = pytest.mark.parametrize("stack", STACKS)


class StackConfig:
    """pulumi.Config over what the run was given: the keys of one namespace."""

    def __init__(self, graph: Graph, name: str):
        self.name = name
        self.values = {
            key.partition(":")[2]: value
            for key, value in graph.config.items()
            if key.partition(":")[0] == name
        }

    def get(self, key: str) -> str | None:
        return self.values.get(key)


def settings(graph: Graph):
    """The stack's settings and its models', as the program computes them from the files."""
    project, stack = StackConfig(graph, graph.project), graph.stack
    cfg = config.load(stack, project, StackConfig(graph, "gcp"))
    return cfg, config.model_configs(cfg, catalog.load(cfg.models_file).models, stack)


@each_stack
def test_every_declared_model_is_served_with_its_settings(live_graphs, stack):
    graph = live_graphs[stack]
    cfg, models = settings(graph)
    assert len(graph.of_type(FUNCTION)) == len(models)
    for model in models:
        wanted = model.settings
        fn = graph.one(FUNCTION, f"{model.prefix}inference-function")
        assert (fn.state["name"], fn.state["location"]) == (wanted.function_name, cfg.region)
        assert fn.state["labels"]["model"] == model.name, fn.urn
        service = fn.state["serviceConfig"]
        assert {
            "minInstanceCount": wanted.min_instances,
            "maxInstanceCount": wanted.max_instances,
            "availableMemory": wanted.memory,
            "availableCpu": wanted.cpu,
            "maxInstanceRequestConcurrency": wanted.concurrency,
            "timeoutSeconds": wanted.timeout_seconds,
            "ingressSettings": wanted.ingress,
            "environmentVariables": wanted.handler_environment,
        }.items() <= service.items(), fn.urn
        assert fn.protect is cfg.deletion_protection, fn.urn


def threshold(graph: Graph, policy: str) -> float:
    [condition] = graph.one(ALERT, policy).state["conditions"]
    return float(condition["conditionThreshold"]["thresholdValue"])


@each_stack
def test_every_models_alerts_fire_at_its_thresholds(live_graphs, stack):
    graph = live_graphs[stack]
    _, models = settings(graph)
    for model in models:
        thresholds = {
            suffix: threshold(graph, f"{model.prefix}monitoring-{suffix}")
            for suffix in ("server-errors", "latency-p99")
        }
        assert thresholds == {
            "server-errors": model.settings.alert_server_errors,
            "latency-p99": model.settings.alert_latency_p99_ms,
        }, model.name


@each_stack
def test_callers_are_those_the_stack_admits(live_graphs, stack):
    graph = live_graphs[stack]
    cfg, models = settings(graph)
    members = {"allUsers"} if cfg.public else set(cfg.invokers)
    granted = {
        (r.state["name"], r.state["member"])
        for r in graph.of_type(RUN_INVOKER)
        if not r.name.endswith("uptime-check")  # the uptime checker (test_gcp_uptime.py)
    }
    assert granted == {(m.settings.function_name, member) for m in models for member in members}


@each_stack
def test_what_the_stack_shares_is_named_after_its_function_name(live_graphs, stack):
    graph = live_graphs[stack]
    cfg, _ = settings(graph)
    assert graph.one(REPOSITORY).state["repositoryId"] == cfg.function_name
    accounts = {r.state["accountId"] for r in graph.of_type("gcp:serviceaccount/account:Account")}
    assert accounts == set(cfg.account_ids.values())


@each_stack
def test_outputs_give_every_model_and_the_primary_at_the_top_level(live_graphs, stack):
    outputs = live_graphs[stack].outputs
    _, models = settings(live_graphs[stack])
    assert {name: o["function_name"] for name, o in outputs["models"].items()} == {
        m.name: m.settings.function_name for m in models
    }
    primary = next((m for m in models if m.primary), None)
    if primary is None:
        assert "url" not in outputs and "primary_model" not in outputs
    else:
        assert outputs["primary_model"] == primary.name
        assert outputs["url"] == outputs["models"][primary.name]["url"]
