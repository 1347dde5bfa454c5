"""Several models from one fork (models.toml): prod of a fork serving Iris and wine, synthesized
once per session (`two_model_app`). One model keeps today's template: the snapshots say so."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

import app as cdk_entry
from model.catalog import CatalogError
from stacks.settings import SettingsError

pytestmark = pytest.mark.slow

MODELS = ("iris", "wine")
STACK = "SklearnInference-prod"


def functions(app):
    """Each model's function (logical ID, properties), told apart by its ROUTE_PREFIX."""
    found = {}
    for logical_id, resource in app.resources("AWS::Lambda::Function").items():
        props = resource["Properties"]
        if props.get("PackageType") == "Image":
            prefix = props["Environment"]["Variables"]["ROUTE_PREFIX"]
            found[prefix.removeprefix("/models/")] = (logical_id, props)
    return found


def aliases(app):
    """Each model's `live` alias logical ID."""
    by_function = {fn_id: name for name, (fn_id, _) in functions(app).items()}
    return {
        by_function[alias["Properties"]["FunctionName"]["Ref"]]: alias_id
        for alias_id, alias in app.resources("AWS::Lambda::Alias").items()
    }


def tag(image):
    (destination,) = image["destinations"].values()
    return destination["imageTag"]


def images(app):
    """Each model's image asset, by the tag its function's ImageUri names."""
    by_tag = {tag(image): image for image in app.assets["dockerImages"].values()}
    return {
        name: by_tag[props["Code"]["ImageUri"]["Fn::Sub"].rsplit(":", 1)[1]]
        for name, (_, props) in functions(app).items()
    }


def test_each_model_has_its_own_function_and_image(two_model_app, dev):
    assert set(functions(two_model_app)) == set(MODELS)
    built = images(two_model_app)
    # The reference model's image is built exactly as when it is alone: no build argument,
    # and the other models' directories outside the context, so adding wine moves nothing of
    # Iris (the same image tag as the single-model stack's)
    assert "dockerBuildArgs" not in built["iris"]["source"]
    (alone,) = dev.assets["dockerImages"].values()
    assert tag(built["iris"]) == tag(alone)  # the asset hash: what the image is built from
    assert built["wine"]["source"]["dockerBuildArgs"] == {"MODEL": "models/wine"}
    assert built["iris"]["source"]["directory"] != built["wine"]["source"]["directory"]


def test_each_image_context_holds_its_own_model_only(two_model_app):
    def staged(name):
        directory = two_model_app.outdir / images(two_model_app)[name]["source"]["directory"]
        return sorted(
            str(p.relative_to(directory)) for p in directory.rglob("*") if "artifacts" in p.parts
        )

    iris, wine = staged("iris"), staged("wine")
    assert "model/artifacts/manifest.json" in iris
    assert not [p for p in iris if p.startswith("models")]
    assert "models/wine/artifacts/manifest.json" in wine
    assert not [p for p in wine if p.startswith("model/")]


def test_routes_lead_each_model_to_its_own_alias(two_model_app):
    app, alias_of = two_model_app, aliases(two_model_app)
    integrations = app.resources("AWS::ApiGatewayV2::Integration")
    routed = {}
    for route in app.resources("AWS::ApiGatewayV2::Route").values():
        props = route["Properties"]
        integration_id = props["Target"]["Fn::Join"][1][1]["Ref"]
        routed[props["RouteKey"]] = integrations[integration_id]["Properties"]["IntegrationUri"]
        assert props["AuthorizationType"] == "AWS_IAM"  # prod: every route signed
    expected = {"$default": {"Ref": alias_of["iris"]}}  # outside every model: the first one
    for name in MODELS:
        alias = {"Ref": alias_of[name]}
        expected[f"POST /models/{name}/predict"] = alias
        expected[f"GET /models/{name}/health"] = alias
        # GET .../predict is the model's 405 with Allow, an unknown path its 404
        expected[f"ANY /models/{name}/{{proxy+}}"] = alias
    assert routed == expected
    two_model_app.assertions.resource_count_is("AWS::ApiGatewayV2::Api", 1)
    two_model_app.assertions.resource_count_is("AWS::ApiGatewayV2::Stage", 1)


def test_each_function_serves_under_its_route_prefix(two_model_app):
    for name, (_, props) in functions(two_model_app).items():
        assert props["Environment"]["Variables"]["ROUTE_PREFIX"] == f"/models/{name}"


def test_per_model_settings_override_the_environment(two_model_app):
    # models.toml: wine sets memory_mb 2048, max_batch_rows 500, alarm_latency_p99_ms 1500
    fns = functions(two_model_app)
    assert fns["wine"][1]["MemorySize"] == 2048
    assert fns["iris"][1]["MemorySize"] == 1024
    assert fns["wine"][1]["Environment"]["Variables"]["MAX_BATCH_ROWS"] == "500"
    assert fns["iris"][1]["Environment"]["Variables"]["MAX_BATCH_ROWS"] == "1000"
    alarms = two_model_app.alarms()
    assert alarms[f"{STACK}-wine-duration-p99"]["Threshold"] == 1500
    assert alarms[f"{STACK}-iris-duration-p99"]["Threshold"] == 1000
    # The release gate holds a new version to the model's own threshold too
    (release,) = [a for n, a in alarms.items() if n.startswith(f"{STACK}-wine-release-duration")]
    assert release["Threshold"] == 1500


def test_alarm_names_say_which_model(two_model_app):
    names = set(two_model_app.alarms())
    version = {name: two_model_app.rendered(_version(two_model_app, name)) for name in MODELS}
    expected = {f"{STACK}-api-5xx"}
    for name in MODELS:
        expected |= {
            f"{STACK}-{name}-{concern}"
            for concern in (
                "errors",
                "server-errors",
                "duration-p99",
                "throttles",
                "pc-spillover",
                "health-check",
            )
        }
        expected |= {
            f"{STACK}-{name}-release-{concern}-v{version[name]}"
            for concern in ("errors", "server-errors", "duration-p99")
        }
    assert names == expected


def _version(app, name):
    """The new version's number as a release alarm's name renders it (<LogicalId.Version>)."""
    alias_id = aliases(app)[name]
    return app.template["Resources"][alias_id]["Properties"]["FunctionVersion"]


def test_each_models_alarms_watch_its_own_function(two_model_app):
    alarms = two_model_app.alarms()
    for name, (fn_id, _) in functions(two_model_app).items():
        dimensions = alarms[f"{STACK}-{name}-errors"]["Dimensions"]
        assert {"Name": "FunctionName", "Value": {"Ref": fn_id}} in dimensions
        dimensions = alarms[f"{STACK}-{name}-server-errors"]["Dimensions"]
        assert {"Name": "function_name", "Value": {"Ref": fn_id}} in dimensions


def test_each_model_has_its_health_check_and_release(two_model_app):
    alias_of = aliases(two_model_app)
    rules = two_model_app.resources("AWS::Events::Rule").values()
    assert sorted(r["Properties"]["Targets"][0]["Arn"]["Ref"] for r in rules) == sorted(
        alias_of.values()
    )
    groups = two_model_app.resources("AWS::CodeDeploy::DeploymentGroup")
    assert len(groups) == 2
    for alias_id in alias_of.values():
        policy = two_model_app.template["Resources"][alias_id]["UpdatePolicy"]
        group = policy["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"]["Ref"]
        assert group in groups


def test_each_models_hook_checks_its_function_on_its_routes(two_model_app):
    hooks = [
        r["Properties"]["Environment"]["Variables"]
        for r in two_model_app.resources("AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == "pre_traffic.handler"
    ]
    checked = {hook["ROUTE_PREFIX"]: hook["FUNCTION_NAME"] for hook in hooks}
    assert checked == {
        f"/models/{name}": {"Ref": fn_id} for name, (fn_id, _) in functions(two_model_app).items()
    }
    # Each with its own model's reference (two distinct objects)
    assert len({hook["REFERENCE_KEY"] for hook in hooks}) == 2


def test_outputs_per_model_and_shared(two_model_app):
    outputs = two_model_app.template["Outputs"]
    per_model = (
        "PredictCommand",
        "FunctionName",
        "FunctionLogGroup",
        "AliasArn",
        "CodeDeployApplication",
        "CodeDeployDeploymentGroup",
    )
    shared = {"ApiUrl", "ApiAuth", "ApiInvokeArn", "DashboardUrl", "AlarmTopicArn", "Models"}
    assert set(outputs) == shared | {f"{t}{o}" for t in ("Iris", "Wine") for o in per_model}
    assert outputs["Models"]["Value"] == "iris,wine"
    fns = functions(two_model_app)
    assert outputs["WineFunctionName"]["Value"] == {"Ref": fns["wine"][0]}
    assert outputs["WineAliasArn"]["Value"] == {"Ref": aliases(two_model_app)["wine"]}


def test_predict_command_calls_the_models_route_with_its_own_features(two_model_app, two_models):
    command = two_model_app.rendered(
        two_model_app.template["Outputs"]["WinePredictCommand"]["Value"]
    )
    assert "/models/wine/predict -H 'content-type: application/json'" in command
    assert "--aws-sigv4" in command  # prod: IAM auth
    body = json.loads(command.rsplit(" -d ", 1)[1].strip("'"))
    reference = json.loads((two_models.parent / "models/wine/artifacts/reference.json").read_text())
    assert body == {"features": reference["cases"][0]["features"]}
    assert len(body["features"]) == len(reference["feature_names"]) == 13


def test_one_topic_and_one_dashboard_with_a_section_per_model(two_model_app):
    two_model_app.assertions.resource_count_is("AWS::SNS::Topic", 1)
    (_, dashboard) = two_model_app.only("AWS::CloudWatch::Dashboard")
    body = two_model_app.rendered(dashboard["DashboardBody"])
    for name in MODELS:
        assert f"### Model `{name}`" in body
        assert f"{name}: Invocations (live)" in body
    assert body.count('"title":"API requests"') == 1


def test_cdk_nag_and_cfn_lint_find_nothing(two_model_app):
    report = AwsSolutionsChecks().validate_scope(two_model_app.app)
    assert [v.rule_name for v in report.violations] == []
    text = (two_model_app.outdir / f"{STACK}.template.json").read_text()
    matches = lint(text, config=ManualArgs(regions=["us-east-1"], ignore_checks=["W3005"]))
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


# What stops synthesis, before anything is built (no synthesis needed).


def _fork(tmp_path, wine_table: str):
    """A models.toml declaring iris and wine (`wine_table` the rest of its table), beside a
    Dockerfile (an image asset needs one; nothing is built)."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    for directory in ("model", "models/wine"):
        (tmp_path / directory).mkdir(parents=True)
        (tmp_path / directory / "train.py").write_text("")
    declaration = tmp_path / "models.toml"
    declaration.write_text(
        '[models.iris]\npath = "model"\n\n[models.wine]\npath = "models/wine"\n' + wine_table
    )
    return declaration


def test_an_unknown_per_model_setting_stops_synthesis_naming_the_model(
    tmp_path, context_of, build_app
):
    declaration = _fork(tmp_path, "memroy_mb = 2048\n")
    app = App(context={**context_of("dev"), "models_file": str(declaration)})
    with pytest.raises(CatalogError, match=r"\[models\.wine\]: unknown setting\(s\) memroy_mb"):
        build_app(app)


def test_an_invalid_per_model_value_stops_synthesis_naming_the_model(
    tmp_path, context_of, build_app
):
    declaration = _fork(tmp_path, "[models.wine.prod]\nmemory_mb = 99999\n")
    app = App(context={**context_of("prod"), "models_file": str(declaration)})
    with pytest.raises(
        SettingsError, match=r"(?s)model 'wine' \(models\.toml\): .*memory_mb must be"
    ):
        build_app(app)
    # dev does not read prod's table
    build_app(App(context={**context_of("dev"), "models_file": str(declaration)}))


def test_one_prebuilt_image_cannot_serve_several_models(tmp_path, context_of):
    declaration = _fork(tmp_path, "")
    context = {**context_of("dev-options"), "models_file": str(declaration)}
    with pytest.raises(SettingsError, match="each of several models needs its own"):
        cdk_entry.build(App(context=context), {})
