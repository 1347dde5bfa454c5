"""The container-image function, its live alias and provisioned concurrency."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match

pytestmark = pytest.mark.slow


def test_function_is_an_arm64_container_image_with_production_sizing(prod):
    _, fn = prod.function()
    assert fn["PackageType"] == "Image"
    assert fn["Architectures"] == ["arm64"]
    assert fn["MemorySize"] == 1024
    assert fn["Timeout"] == 10
    assert fn["TracingConfig"] == {"Mode": "Active"}
    # A flood can take at most this much of the account, and no other function can starve it
    # (this also answers checkov CKV_AWS_115).
    assert fn["ReservedConcurrentExecutions"] == 20


def test_dev_function_is_unreserved(dev):
    _, fn = dev.function()
    assert "ReservedConcurrentExecutions" not in fn


def test_function_image_is_the_repository_dockerfile_built_for_the_function_architecture(dev, prod):
    for app, platform in ((dev, "linux/arm64"), (prod, "linux/arm64")):
        (image,) = app.assets["dockerImages"].values()
        assert image["source"]["dockerFile"] == "Dockerfile"
        assert image["source"]["platform"] == platform
        (destination,) = image["destinations"].values()
        _, fn = app.function()
        assert fn["Code"]["ImageUri"]["Fn::Sub"].endswith(":" + destination["imageTag"])


def test_x86_setting_builds_and_runs_amd64(options):
    _, fn = options.function()
    assert fn["Architectures"] == ["x86_64"]


def test_function_environment_is_what_the_handler_reads(dev, prod):
    for app in (dev, prod):
        _, fn = app.function()
        # No MAX_BODY_BYTES: unset, the handler derives the limit from the model's width
        assert fn["Environment"]["Variables"] == {
            "MODEL_BACKEND": "auto",
            "MAX_BATCH_ROWS": "1000",
            "LOG_LEVEL": "INFO",
            "POWERTOOLS_SERVICE_NAME": "sklearn-inference",
            "POWERTOOLS_METRICS_NAMESPACE": "SklearnInference",
        }


def test_max_body_bytes_reaches_the_handler_only_when_set(prod_options):
    _, fn = prod_options.function()
    assert fn["Environment"]["Variables"]["MAX_BODY_BYTES"] == "65536"


@pytest.mark.parametrize(
    ("app_name", "days", "policy"), [("dev", 7, "Delete"), ("prod", 90, "Retain")]
)
def test_function_logs_to_its_own_group_with_retention(apps, app_name, days, policy):
    app = apps[app_name]
    _, fn = app.function()
    group_id = fn["LoggingConfig"]["LogGroup"]["Ref"]
    group = app.template["Resources"][group_id]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == days
    assert group["DeletionPolicy"] == policy


def test_function_role_may_write_only_its_own_log_group(prod):
    _, fn = prod.function()
    group_id = fn["LoggingConfig"]["LogGroup"]["Ref"]
    role_id = fn["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in prod.template["Resources"][role_id]["Properties"]
    statements = prod.policy_of(role_id)["PolicyDocument"]["Statement"]
    assert {
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [group_id, "Arn"]},
    } in statements
    wildcard = [s for s in statements if s["Resource"] == "*"]
    assert [s["Action"] for s in wildcard] == [
        ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    ]


def test_tracing_off_removes_xray_and_its_permissions(options):
    _, fn = options.function()
    assert "TracingConfig" not in fn  # PassThrough: no active tracing
    policy = options.policy_of(fn["Role"]["Fn::GetAtt"][0])
    assert all(s["Resource"] != "*" for s in policy["PolicyDocument"]["Statement"])


def test_prebuilt_image_by_digest_needs_no_docker_asset(options):
    assert options.assets["dockerImages"] == {}
    _, fn = options.function()
    image_uri = fn["Code"]["ImageUri"]["Fn::Join"][1]
    assert image_uri[-1] == "/inference@" + options.settings.image_digest


def test_prebuilt_image_by_repository_arn_and_tag(prod_options):
    assert prod_options.assets["dockerImages"] == {}
    _, fn = prod_options.function()
    joined = fn["Code"]["ImageUri"]["Fn::Join"][1]
    assert "".join(p for p in joined if isinstance(p, str)).endswith("/team/inference:v1.2.3")
    assert "123456789012.dkr.ecr.eu-west-1." in "".join(p for p in joined if isinstance(p, str))


def test_reserved_concurrency_from_settings(options):
    _, fn = options.function()
    assert fn["ReservedConcurrentExecutions"] == 10


def test_alias_live_points_at_a_published_version_never_latest(every_app):
    # One version and one `live` alias per model, the alias on its own function's version
    versions = every_app.resources("AWS::Lambda::Version")
    aliases = every_app.resources("AWS::Lambda::Alias").values()
    assert len(versions) == len(aliases) == len(every_app.models.models)
    for alias in (a["Properties"] for a in aliases):
        assert alias["Name"] == "live"
        (version_id,) = [
            v
            for v, version in versions.items()
            if version["Properties"]["FunctionName"] == alias["FunctionName"]
        ]
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


def test_old_versions_are_retained_so_live_can_point_back_without_a_rebuild(every_app):
    versions = every_app.resources("AWS::Lambda::Version").values()
    assert versions
    for version in versions:
        # A new version gets a new logical ID; the old one is kept when it leaves the
        # template, and only a version whose own release rolled back is deleted
        # (tests/aws/test_aws_release.py)
        assert version["DeletionPolicy"] == "RetainExceptOnCreate"
        assert version["UpdateReplacePolicy"] == "Retain"


def test_with_autoscaling_the_scalable_target_alone_owns_provisioned_concurrency(prod):
    # Were the alias to declare an amount too, each deploy would write it back over what the
    # autoscaler had added.
    _, alias = prod.only("AWS::Lambda::Alias")
    assert "ProvisionedConcurrencyConfig" not in alias
    _, target = prod.only("AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["MinCapacity"] == 1  # registering the target provisions this much


def test_without_autoscaling_the_alias_declares_a_fixed_amount(options):
    options.assertions.has_resource_properties(
        "AWS::Lambda::Alias",
        {"Name": "live", "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2}},
    )
    options.assertions.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)


def test_dev_alias_has_no_provisioned_concurrency(dev):
    dev.assertions.has_resource_properties(
        "AWS::Lambda::Alias", {"Name": "live", "ProvisionedConcurrencyConfig": Match.absent()}
    )
    dev.assertions.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)


def test_prod_scales_provisioned_concurrency_on_utilization(prod):
    alias_id, _ = prod.only("AWS::Lambda::Alias")
    target_id, target = prod.only("AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    assert target["ScalableDimension"] == "lambda:function:ProvisionedConcurrency"
    resource_id = target["ResourceId"]["Fn::Join"][1]
    assert resource_id[-1] == ":live"
    assert {"Ref": alias_id} in resource_id[1]["Fn::Select"][1]["Fn::Split"]
    prod.assertions.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "ScalingTargetId": {"Ref": target_id},
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"
                },
                "TargetValue": 0.7,
            },
        },
    )


def test_base_image_pin_reaches_the_docker_build(tmp_path, context_of, build_app):
    # `cdk deploy` builds the image itself, so the Dockerfile's BASE_IMAGE comes from settings
    pinned = "public.ecr.aws/lambda/python:3.12@sha256:" + "0" * 64
    app = App(context={**context_of("dev"), "base_image": pinned}, outdir=str(tmp_path))
    stack = build_app(app)
    app.synth()
    assets = json.loads((tmp_path / f"{stack.artifact_id}.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerBuildArgs"] == {"BASE_IMAGE": pinned}


def test_without_a_pin_the_dockerfile_default_stands(dev):
    (image,) = dev.assets["dockerImages"].values()
    assert "dockerBuildArgs" not in image["source"]
