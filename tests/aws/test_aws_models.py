"""Several models from one fork (models.toml), each fork app synthesized once per session at
upstream defaults: Iris and wine (`two_model_app`), plus `cellar` (`three_model_app`), and wine
alone with the reference model removed (`wine_alone_app`).

model/catalog.py's rule: the model in model/ is the primary one, at the stack's own names and
routes; any other model is named after itself. So adding, removing or reordering models never
changes another model's logical IDs, routes or outputs."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk import App
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

import app as cdk_entry
from model.catalog import CatalogError
from stacks.settings import SettingsError
from tests.aws.conftest import DIGEST, masked

pytestmark = pytest.mark.slow


def tag(image):
    (destination,) = image["destinations"].values()
    return destination["imageTag"]


def images(app):
    """Each model's image asset, by the tag its function's ImageUri names."""
    by_tag = {tag(image): image for image in app.assets["dockerImages"].values()}
    return {
        name: by_tag[props["Code"]["ImageUri"]["Fn::Sub"].rsplit(":", 1)[1]]
        for name, (_, props) in app.functions().items()
    }


def resources(app):
    """Every resource by logical ID, the version hash and asset hashes masked."""
    return masked(app.template["Resources"])


# What a model's own resources' logical IDs start with (ModelNames: `Wine...`), wherever the
# construct that builds them lives.
def owned_by(title: str, logical_id: str) -> bool:
    return bool(
        re.match(rf"^(Monitoring)?{title}[A-Z]", logical_id)
        or re.match(rf"^HttpApi(POST|GET|ANY)models{title.lower()}", logical_id)
    )


def test_each_model_has_its_own_function_and_image(two_model_app, prod):
    assert set(two_model_app.functions()) == {"iris", "wine"}
    built = images(two_model_app)
    # The primary model's image is built exactly as when it is alone: no build argument, and
    # the other models' directories outside the context, so adding wine moves nothing of Iris
    # (the same image tag as the single-model stack's)
    assert "dockerBuildArgs" not in built["iris"]["source"]
    (alone,) = prod.assets["dockerImages"].values()
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


def test_the_primary_model_keeps_the_stacks_routes_and_the_others_get_their_own(two_model_app):
    alias_of = two_model_app.aliases()
    iris, wine = alias_of["iris"], alias_of["wine"]
    assert two_model_app.routes() == {
        "POST /predict": iris,
        "GET /health": iris,
        "$default": iris,  # outside every model's prefix: the primary model's 404 or 405
        "POST /models/wine/predict": wine,
        "GET /models/wine/health": wine,
        # GET .../predict is the model's 405 with Allow, an unknown path its 404
        "ANY /models/wine/{proxy+}": wine,
    }
    for route in two_model_app.resources("AWS::ApiGatewayV2::Route").values():
        assert route["Properties"]["AuthorizationType"] == "AWS_IAM"  # prod: every route signed
    two_model_app.assertions.resource_count_is("AWS::ApiGatewayV2::Api", 1)
    two_model_app.assertions.resource_count_is("AWS::ApiGatewayV2::Stage", 1)


def test_only_the_other_models_serve_under_a_route_prefix(two_model_app):
    fns = two_model_app.functions()
    assert "ROUTE_PREFIX" not in fns["iris"][1]["Environment"]["Variables"]
    assert fns["wine"][1]["Environment"]["Variables"]["ROUTE_PREFIX"] == "/models/wine"


@pytest.mark.parametrize("bigger", ["two_model_app", "three_model_app"])
def test_adding_models_leaves_every_resource_of_the_first_in_place(prod, bigger, request):
    # GIVEN the reference model alone, then the same stack with more models
    grown_app = request.getfixturevalue(bigger)
    alone, grown = resources(prod), resources(grown_app)
    # THEN every resource the lone model had keeps its logical ID and type: CloudFormation
    # replaces nothing and moves no route
    assert {k: v["Type"] for k, v in alone.items()}.items() <= {
        k: v["Type"] for k, v in grown.items()
    }.items()
    # ...and all but the dashboard, which lists every model, are unchanged property for property
    changed = sorted(k for k in alone if alone[k] != grown[k])
    assert changed == ["MonitoringDashboard0C3675C6"]
    assert prod.routes().items() <= grown_app.routes().items()
    outputs = {k: v for k, v in prod.template["Outputs"].items() if k != "Models"}
    assert outputs.items() <= grown_app.template["Outputs"].items()


def test_removing_a_model_removes_only_its_own_resources(two_model_app, three_model_app):
    two, three = resources(two_model_app), resources(three_model_app)
    extra = sorted(set(three) - set(two))
    assert extra and all(owned_by("Cellar", logical_id) for logical_id in extra), extra
    assert set(two) <= set(three)
    unchanged = {k for k in two if two[k] == three[k]}
    assert sorted(set(two) - unchanged) == ["MonitoringDashboard0C3675C6"]


def test_a_model_keeps_its_names_without_the_primary_model(two_model_app, wine_alone_app):
    # GIVEN a fork that removed the reference model: wine alone, no primary model
    alone, beside = resources(wine_alone_app), resources(two_model_app)
    wine = {k for k in alone if owned_by("Wine", k)}
    assert wine and {k: alone[k] for k in wine} == {k: beside[k] for k in wine}
    # THEN its routes stay below its prefix, and the API's catch-all answers with it
    alias = wine_alone_app.aliases()["wine"]
    assert wine_alone_app.routes() == {
        "POST /models/wine/predict": alias,
        "GET /models/wine/health": alias,
        "ANY /models/wine/{proxy+}": alias,
        "$default": alias,
    }
    outputs = wine_alone_app.template["Outputs"]
    assert outputs["Models"]["Value"] == "wine" and "PrimaryModel" not in outputs
    assert "WineFunctionName" in outputs and "FunctionName" not in outputs


def test_per_model_settings_override_the_environment(two_model_app):
    # The fork's models.toml: wine sets memory_mb 2048, max_batch_rows 500,
    # alarm_latency_p99_ms 1500; iris keeps the environment's (upstream defaults here)
    stack = two_model_app.settings.stack_name
    defaults = two_model_app.settings
    fns = two_model_app.functions()
    assert fns["wine"][1]["MemorySize"] == 2048
    assert fns["iris"][1]["MemorySize"] == defaults.memory_mb
    assert fns["wine"][1]["Environment"]["Variables"]["MAX_BATCH_ROWS"] == "500"
    assert fns["iris"][1]["Environment"]["Variables"]["MAX_BATCH_ROWS"] == str(
        defaults.max_batch_rows
    )
    alarms = two_model_app.alarms()
    assert alarms[f"{stack}-wine-duration-p99"]["Threshold"] == 1500
    assert alarms[f"{stack}-duration-p99"]["Threshold"] == defaults.alarm_latency_p99_ms
    # The release gate holds a new version to the model's own threshold too
    (release,) = [a for n, a in alarms.items() if n.startswith(f"{stack}-wine-release-duration")]
    assert release["Threshold"] == 1500


def test_alarm_names_say_which_model(three_model_app):
    app, stack = three_model_app, three_model_app.settings.stack_name
    version = {name: app.rendered(_version(app, name)) for name in ("iris", "wine", "cellar")}
    concerns = ("errors", "server-errors", "duration-p99", "throttles", "pc-spillover")
    expected = {f"{stack}-api-5xx"}
    for name, prefix in (("iris", ""), ("wine", "wine-"), ("cellar", "cellar-")):
        expected |= {f"{stack}-{prefix}{concern}" for concern in (*concerns, "health-check")}
        expected |= {
            f"{stack}-{prefix}release-{concern}-v{version[name]}"
            for concern in ("errors", "server-errors", "duration-p99")
        }
    assert set(app.alarms()) == expected


def _version(app, name):
    """The new version's number as a release alarm's name renders it (<LogicalId.Version>)."""
    alias_id = app.aliases()[name]
    return app.template["Resources"][alias_id]["Properties"]["FunctionVersion"]


def test_each_models_alarms_watch_its_own_function(two_model_app):
    alarms, stack = two_model_app.alarms(), two_model_app.settings.stack_name
    for name, (fn_id, _) in two_model_app.functions().items():
        prefix = "" if name == "iris" else f"{name}-"
        dimensions = alarms[f"{stack}-{prefix}errors"]["Dimensions"]
        assert {"Name": "FunctionName", "Value": {"Ref": fn_id}} in dimensions
        dimensions = alarms[f"{stack}-{prefix}server-errors"]["Dimensions"]
        assert {"Name": "function_name", "Value": {"Ref": fn_id}} in dimensions


def test_each_model_has_its_health_check_and_release(two_model_app):
    alias_of = two_model_app.aliases()
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
    checked = {hook.get("ROUTE_PREFIX", ""): hook["FUNCTION_NAME"] for hook in hooks}
    fns = two_model_app.functions()
    assert checked == {"": {"Ref": fns["iris"][0]}, "/models/wine": {"Ref": fns["wine"][0]}}
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
    shared = {
        "ApiUrl",
        "ApiAuth",
        "ApiInvokeArn",
        "DashboardUrl",
        "AlarmTopicArn",
        "Models",
        "PrimaryModel",
    }
    assert set(outputs) == shared | {f"{t}{o}" for t in ("", "Wine") for o in per_model}
    assert outputs["Models"]["Value"] == "iris,wine"
    assert outputs["PrimaryModel"]["Value"] == "iris"
    fns = two_model_app.functions()
    assert outputs["WineFunctionName"]["Value"] == {"Ref": fns["wine"][0]}
    assert outputs["WineAliasArn"]["Value"] == {"Ref": two_model_app.aliases()["wine"]}
    assert outputs["FunctionName"]["Value"] == {"Ref": fns["iris"][0]}


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
    assert "### Model `iris`" in body and "### Model `wine`" in body
    assert '"title":"Invocations (live)"' in body  # the primary model's rows
    assert "wine: Invocations (live)" in body
    assert body.count('"title":"API requests"') == 1


@pytest.mark.parametrize("fork", ["two_model_app", "three_model_app", "wine_alone_app"])
def test_cdk_nag_and_cfn_lint_find_nothing(fork, request):
    app = request.getfixturevalue(fork)
    report = AwsSolutionsChecks().validate_scope(app.app)
    assert [v.rule_name for v in report.violations] == []
    text = (app.outdir / f"{app.settings.stack_name}.template.json").read_text()
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
    with pytest.raises(
        CatalogError,
        match=r"models\.toml: \[models\.wine\]: unknown setting memroy_mb; did you mean memory_mb",
    ):
        build_app(app)


def test_an_invalid_per_model_value_stops_synthesis_naming_the_model(
    tmp_path, context_of, build_app
):
    declaration = _fork(tmp_path, "[models.wine.prod]\nmemory_mb = 99999\n")
    app = App(context={**context_of("prod"), "models_file": str(declaration)})
    with pytest.raises(
        SettingsError, match=r"^models\.toml \[models\.wine\] \(prod\): memory_mb must be"
    ):
        build_app(app)
    # dev does not read prod's table
    build_app(App(context={**context_of("dev"), "models_file": str(declaration)}))


def test_one_prebuilt_image_cannot_serve_several_models(tmp_path, context_of):
    # dev-options runs one prebuilt image by digest, which would serve both models
    declaration = _fork(tmp_path, "")
    context = {**context_of("dev-options"), "models_file": str(declaration)}
    with pytest.raises(SettingsError, match="models iris, wine would all run the prebuilt image"):
        cdk_entry.build(App(context=context), {})


def test_each_model_may_run_a_prebuilt_image_of_its_own(tmp_path, context_of, build_app):
    # GIVEN wine prebuilt by CI (its own tag, a digest in prod) and iris built by the deploy
    declaration = _fork(
        tmp_path,
        'image_repository = "team/wine"\nimage_tag = "v7"\n'
        f'[models.wine.prod]\nimage_tag = "none"\nimage_digest = "{DIGEST}"\n',
    )
    for env, reference in (("dev", "v7"), ("prod", DIGEST)):
        app = App(context={**context_of(env), "models_file": str(declaration)})
        stack = build_app(app)
        template = app.synth().get_stack_by_name(stack.stack_name).template
        images = {
            r["Properties"].get("Environment", {}).get("Variables", {}).get("ROUTE_PREFIX", ""): (
                r["Properties"]["Code"]["ImageUri"]
            )
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("PackageType")
        }
        # THEN wine's function pulls team/wine at its reference; iris's is the built asset
        assert f"team/wine:{reference}" in json.dumps(images["/models/wine"]).replace("@", ":")
        assert "cdk-hnb659fds-container-assets" in json.dumps(images[""])
