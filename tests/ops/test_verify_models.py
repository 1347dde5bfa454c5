"""`--model NAME`: verify and probe one model of a deployment serving several (models.toml).

The local wine server stands in for the API of a stack serving iris and wine: it answers under
/models/wine only, as API Gateway routes that prefix to wine's function. moto holds the stack.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from ops import probe, verify
from ops.cli import add_target_arguments
from ops.targets import Target, resolve_target
from tests.conftest import Server
from tests.ops.conftest import pulumi_script
from tests.ops.fake_aws import INIT_DURATION_MS, Deployment, deploy

STACK = "SklearnInference-prod"
WINE = "wine-random-forest"


def run(main: Callable[..., int], capsys: pytest.CaptureFixture[str], *argv: str, **kw: Any):
    code = main([*argv, "--json"], **kw)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out else None), captured.err


def details(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report["checks"]}


@pytest.fixture
def two_model_stack(aws: boto3.Session, wine_server: Server, fork_catalog: Path) -> Deployment:
    return deploy(
        aws, stack_name=STACK, api_url=wine_server.url, models=("iris", "wine"), primary="iris"
    )


def verify_wine(deployment: Deployment, capsys: pytest.CaptureFixture[str], *extra: str):
    return run(
        verify.main,
        capsys,
        "--stack",
        STACK,
        "--model",
        "wine",
        "--requests",
        "3",
        *extra,
        session_factory=deployment.session_factory,
    )


def test_one_model_of_a_stack_passes_every_check_against_its_own_routes_and_outputs(
    two_model_stack: Deployment, wine_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, _ = verify_wine(two_model_stack, capsys)
    assert (code, report["failed"]) == (0, [])
    assert report["target"]["url"] == f"{wine_server.url}/models/wine"
    assert report["target"]["model"] == "wine"
    # Wine's own manifest and reference, answered by wine's routes
    assert details(report)["model_identity"].startswith(f"{WINE} 1.0.0")
    assert details(report)["error_method_not_allowed"] == "405 method_not_allowed, Allow: POST"
    # Wine's function (WineFunctionName), and its alarms and the API's, not iris's
    assert set(two_model_stack.lambda_calls) == {
        "GetAlias",
        "ListProvisionedConcurrencyConfigs",
    }
    assert details(report)["alarms"] == "3 alarms: 3 OK"


@pytest.mark.parametrize(
    ("concern", "fails"),
    # iris is the primary model: its alarms carry no model name
    [("errors", False), ("wine-errors", True), ("api-5xx", True)],
)
def test_the_models_alarms_and_the_apis_count_not_the_other_models(
    two_model_stack: Deployment,
    capsys: pytest.CaptureFixture[str],
    concern: str,
    fails: bool,
) -> None:
    two_model_stack.set_alarm(concern, "ALARM")
    code, report, _ = verify_wine(two_model_stack, capsys)
    assert (code, report["failed"]) == ((1, ["alarms"]) if fails else (0, []))


def _target(deployment: Deployment, model: str | None) -> Target:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    argv = ["--stack", deployment.stack_name, *(["--model", model] if model else [])]
    return resolve_target(parser.parse_args(argv), session_factory=deployment.session_factory)


def test_the_primary_model_is_found_at_the_stacks_own_routes_outputs_and_alarms(
    two_model_stack: Deployment, wine_server: Server
) -> None:
    iris, wine = _target(two_model_stack, "iris"), _target(two_model_stack, "wine")
    api = wine_server.url.rstrip("/")
    assert (iris.base_url, iris.route_prefix, iris.output_key("FunctionName")) == (
        api,
        "",
        "FunctionName",
    )
    assert (wine.base_url, wine.route_prefix, wine.output_key("FunctionName")) == (
        f"{api}/models/wine",
        "/models/wine",
        "WineFunctionName",
    )
    alarms = [f"{STACK}-{concern}" for concern in ("errors", "wine-errors", "api-5xx")]
    assert [a for a in alarms if iris.owns_alarm(a)] == [alarms[0], alarms[2]]
    assert [a for a in alarms if wine.owns_alarm(a)] == [alarms[1], alarms[2]]


def test_a_stack_deployed_before_the_primary_model_rule_still_names_each_model(
    aws: boto3.Session,
) -> None:
    # GIVEN a stack whose every model carries its name (no PrimaryModel output)
    legacy = deploy(aws, stack_name="Legacy", api_url="http://x", models=("iris", "wine"))
    iris = _target(legacy, "iris")
    assert (iris.route_prefix, iris.output_key("AliasArn")) == ("/models/iris", "IrisAliasArn")
    assert iris.owns_alarm("Legacy-iris-errors") and not iris.owns_alarm("Legacy-wine-errors")
    # ...and a stack of one model needs no --model
    single = deploy(aws, stack_name="Single", api_url="http://x")
    assert _target(single, None).output_key("FunctionName") == "FunctionName"


def test_a_stack_serving_one_model_that_is_not_the_primary_needs_no_model(
    aws: boto3.Session, wine_server: Server, fork_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a fork that removed the reference model: the stack serves wine alone, below its prefix
    alone = deploy(aws, stack_name="WineOnly", api_url=wine_server.url, models=("wine",))
    # WHEN verify runs without --model THEN it checks wine, against wine's own artifacts
    code, report, _ = run(
        verify.main,
        capsys,
        "--stack",
        "WineOnly",
        "--requests",
        "2",
        session_factory=alone.session_factory,
    )
    assert (code, report["failed"]) == (0, [])
    assert report["target"]["model"] == "wine"
    assert details(report)["model_identity"].startswith(f"{WINE} 1.0.0")


def test_the_models_own_alias_is_checked(
    two_model_stack: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    def point_live_back(model: str) -> None:
        function = two_model_stack.model(model).function_name
        lam = two_model_stack.session.client("lambda")
        lam.update_alias(FunctionName=function, Name="live", FunctionVersion="1")

    point_live_back("iris")  # none of wine's business
    code, report, _ = verify_wine(two_model_stack, capsys)
    assert (code, report["failed"]) == (0, [])
    point_live_back("wine")
    code, report, _ = verify_wine(two_model_stack, capsys)
    assert (code, report["failed"]) == (1, ["live_alias"])


def test_a_stack_serving_several_models_needs_model(
    two_model_stack: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        verify.main, capsys, "--stack", STACK, session_factory=two_model_stack.session_factory
    )
    assert code == 2
    assert err == (
        f"verify: error: stack {STACK} serves several models (iris, wine): choose one with "
        "--model NAME\n"
    )
    # A model models.toml declares but this stack does not serve
    other = deploy(
        two_model_stack.session, stack_name="Other", api_url="http://x", models=("iris", "forest")
    )
    code, _, err = run(
        probe.main,
        capsys,
        "--stack",
        "Other",
        "--model",
        "wine",
        session_factory=other.session_factory,
    )
    assert code == 2
    assert err == "probe: error: stack Other serves no model 'wine'; it serves iris, forest\n"


def test_a_url_with_model_is_compared_with_that_models_artifacts(
    wine_server: Server, fork_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{wine_server.url}/models/wine"
    code, report, _ = run(verify.main, capsys, "--url", url, "--model", "wine", "--requests", "2")
    assert (code, report["failed"]) == (0, [])
    # Without --model the reference model's manifest and reference are the expectation
    code, report, _ = run(verify.main, capsys, "--url", url, "--requests", "2")
    assert code == 1
    assert {"model_identity", "reference_predictions"} <= set(report["failed"])


def test_a_model_that_models_toml_does_not_declare(
    fork_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(verify.main, capsys, "--url", "http://127.0.0.1:9", "--model", "beer")
    assert code == 2
    assert err == "verify: error: no model named 'beer' in models.toml; declared: iris, wine\n"
    code, _, err = run(
        verify.main, capsys, "--url", "http://127.0.0.1:9", "--model", "iris", "--model-dir", "x"
    )
    assert (code, err) == (
        2,
        "verify: error: --model and --model-dir exclude each other: --model reads models.toml\n",
    )


def test_probe_forces_cold_starts_of_the_models_function_on_its_route(
    two_model_stack: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    wine = two_model_stack.model("wine")
    wine.fake_invoke()
    code, report, _ = run(
        probe.main,
        capsys,
        "--stack",
        STACK,
        "--model",
        "wine",
        "--force-cold",
        "1",
        "--requests",
        "2",
        "--log-wait",
        "2",
        session_factory=two_model_stack.session_factory,
    )
    assert code == 0, report
    # The unqualified wine function, with an event for wine's route (ROUTE_PREFIX)
    (invoke,) = wine.invokes
    assert invoke["event"]["rawPath"] == "/models/wine/predict"
    assert invoke["event"]["requestContext"]["http"]["path"] == "/models/wine/predict"
    # Its REPORT line read from wine's log group (WineFunctionLogGroup)
    assert report["forced_cold_starts"][0]["report"]["init_ms"] == INIT_DURATION_MS
    # The load went to wine's routes with a row of wine's features: every answer a 200
    assert report["groups"]["warm"]["client_ms"]["n"] == 2


def test_a_pulumi_stack_serving_several_models_gives_each_its_url(
    fake_bin: Callable[[str, str], Path],
    tmp_path: Path,
    wine_server: Server,
    fork_catalog: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = {
        "public": True,
        "models": {
            "iris": {"url": "https://iris.invalid", "function_name": "f-iris"},
            "wine": {"url": f"{wine_server.url}/models/wine", "function_name": "f-wine"},
        },
    }
    fake_bin("pulumi", pulumi_script(outputs, stack="prod", record=tmp_path / "calls"))
    code, report, _ = run(
        verify.main, capsys, "--pulumi-stack", "prod", "--model", "wine", "--requests", "2"
    )
    assert (code, report["failed"]) == (0, [])
    assert report["target"]["url"] == f"{wine_server.url}/models/wine"
    code, _, err = run(verify.main, capsys, "--pulumi-stack", "prod")
    assert code == 2
    assert "Pulumi stack prod serves several models (iris, wine): choose one" in err
