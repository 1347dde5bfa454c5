"""The templates `cdk synth` builds from this repository's cdk.json and models.toml carry the
settings in force, for every declared model and under model/catalog.py's naming rule.

Every expectation here is derived from those settings (the app's `settings`, each model's
`for_model` overrides, `ModelNames.of`), never written down: a fork that renames its stacks,
changes a threshold or declares other models keeps these tests green, and sees only its
snapshots move (test_aws_snapshot.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from model.catalog import ModelEntry
from stacks.naming import ModelNames
from stacks.settings import DeploySettings, for_model
from tests.aws.conftest import Synthesized

pytestmark = pytest.mark.slow


def models(app: Synthesized) -> Iterator[tuple[ModelEntry, ModelNames, DeploySettings]]:
    """Each declared model, its names, and its settings in this environment."""
    for entry in app.models.models:
        overrides = entry.overrides(app.settings.env_name)
        yield entry, ModelNames.of(entry), for_model(app.settings, entry.name, overrides)


def test_the_stack_is_named_and_protected_as_the_settings_say(live: Synthesized) -> None:
    # The deployed stack's name: stackName when it differs from the artifact's id
    name = live.artifact["properties"].get("stackName", live.artifact["displayName"])
    assert name == live.settings.stack_name
    protected = live.artifact["properties"].get("terminationProtection", False)
    assert protected is live.settings.termination_protection


def test_each_declared_model_has_a_function_sized_by_its_settings(live: Synthesized) -> None:
    functions = live.functions()
    assert set(functions) == {entry.name for entry in live.models.models}
    for entry, names, settings in models(live):
        _, fn = functions[entry.name]
        assert fn["MemorySize"] == settings.memory_mb
        assert fn["Timeout"] == settings.timeout_seconds
        assert fn["Architectures"] == [settings.architecture]
        assert fn.get("ReservedConcurrentExecutions") == settings.reserved_concurrency
        variables = fn["Environment"]["Variables"]
        assert variables["MAX_BATCH_ROWS"] == str(settings.max_batch_rows)
        assert variables["MODEL_BACKEND"] == settings.model_backend
        assert variables["LOG_LEVEL"] == settings.log_level
        assert variables["POWERTOOLS_SERVICE_NAME"] == settings.service_name
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == settings.metrics_namespace
        assert variables.get("MAX_BODY_BYTES") == (
            None if settings.max_body_bytes is None else str(settings.max_body_bytes)
        )
        assert variables.get("ROUTE_PREFIX", "") == names.route_prefix


def test_routes_follow_the_naming_rule(live: Synthesized) -> None:
    aliases, routed = live.aliases(), live.routes()
    for entry, names, _ in models(live):
        alias = aliases[entry.name]
        prefix = names.route_prefix
        assert routed.pop(f"POST {prefix}/predict") == alias
        assert routed.pop(f"GET {prefix}/health") == alias
        if prefix:
            assert routed.pop(f"ANY {prefix}/{{proxy+}}") == alias
        routed.pop(f"OPTIONS {prefix}/{{proxy+}}", None)  # a CORS preflight, when configured
    catch_all = live.models.primary or live.models.models[0]
    assert routed == {"$default": aliases[catch_all.name]}


def test_each_models_alarms_carry_its_thresholds(live: Synthesized) -> None:
    alarms = live.alarms()
    for _, names, settings in models(live):
        name = f"{live.settings.stack_name}-{names.concern('%s')}"
        assert alarms[name % "errors"]["Threshold"] == settings.alarm_errors
        assert alarms[name % "server-errors"]["Threshold"] == settings.alarm_server_errors
        assert alarms[name % "duration-p99"]["Threshold"] == settings.alarm_latency_p99_ms
        assert (name % "health-check" in alarms) is bool(settings.health_check_minutes)
        assert (name % "pc-spillover" in alarms) is settings.warm
    assert f"{live.settings.stack_name}-api-5xx" in alarms


def test_each_models_alias_keeps_the_warm_pool_its_settings_ask_for(live: Synthesized) -> None:
    targets = {
        _ref(target["Properties"]["ResourceId"]): target["Properties"]
        for target in live.resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    }
    aliases = live.aliases()
    for entry, _, settings in models(live):
        alias_id = aliases[entry.name]
        alias = live.template["Resources"][alias_id]["Properties"]
        fixed = alias.get("ProvisionedConcurrencyConfig", {}).get("ProvisionedConcurrentExecutions")
        if settings.autoscaling:
            assert fixed is None
            target = targets[alias_id]
            assert (target["MinCapacity"], target["MaxCapacity"]) == (
                settings.autoscaling_min,
                settings.autoscaling_max,
            )
        else:
            assert alias_id not in targets
            assert fixed == (settings.provisioned_concurrency or None)


def test_each_model_is_released_as_its_settings_say(live: Synthesized) -> None:
    groups = live.resources("AWS::CodeDeploy::DeploymentGroup")
    hooks = {
        tuple(r["Properties"]["Environment"]["Variables"].get("ROUTE_PREFIX", ""))
        for r in live.resources("AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == "pre_traffic.handler"
    }
    aliases = live.aliases()
    for entry, names, settings in models(live):
        update = live.template["Resources"][aliases[entry.name]]["UpdatePolicy"]
        group = groups[update["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"]["Ref"]]
        config = group["Properties"]["DeploymentConfigName"]
        assert config == f"CodeDeployDefault.Lambda{settings.deployment_config}"
        assert (tuple(names.route_prefix) in hooks) is settings.pre_traffic_hook


def test_outputs_name_every_model_and_the_primary_one(live: Synthesized) -> None:
    outputs = live.template["Outputs"]
    assert outputs["Models"]["Value"] == ",".join(e.name for e in live.models.models)
    primary = live.models.primary
    assert outputs.get("PrimaryModel", {}).get("Value") == getattr(primary, "name", None)
    functions = live.functions()
    for entry, names, _ in models(live):
        assert outputs[names.id("FunctionName")]["Value"] == {"Ref": functions[entry.name][0]}
        assert names.id("PredictCommand") in outputs


def _ref(value: Any) -> str | None:
    """The first logical ID a CloudFormation expression refers to (`{"Ref": ...}`)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        value = list(value.values())
    if isinstance(value, list):
        return next((found for item in value if (found := _ref(item))), None)
    return None
