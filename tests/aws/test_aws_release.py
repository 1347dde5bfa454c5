"""CodeDeploy on the live alias: deployment config, rollback alarms per version, the pre-traffic
hook, and provisioned concurrency while traffic shifts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Annotations, Match, Template

from stacks.release import canary_seconds
from tests.aws.conftest import synthesize

pytestmark = pytest.mark.slow

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reference.json"
ROLLBACK_EVENTS = {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"}


def _version_of(app):
    _, alias = app.only("AWS::Lambda::Alias")
    return alias["FunctionVersion"]  # {"Fn::GetAtt": [<the published version>, "Version"]}


def _release_alarms(app):
    return {name: a for name, a in app.alarms().items() if "-release-" in name}


def test_prod_shifts_10_percent_for_5_minutes_and_rolls_back_on_failure_or_alarm(prod):
    _, group = prod.only("AWS::CodeDeploy::DeploymentGroup")
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["DeploymentStyle"] == {
        "DeploymentOption": "WITH_TRAFFIC_CONTROL",
        "DeploymentType": "BLUE_GREEN",
    }
    assert group["AutoRollbackConfiguration"]["Enabled"] is True
    assert set(group["AutoRollbackConfiguration"]["Events"]) == ROLLBACK_EVENTS
    assert group["AlarmConfiguration"]["Enabled"] is True
    alarm_ids = {
        logical_id
        for logical_id, r in prod.resources("AWS::CloudWatch::Alarm").items()
        if "-release-" in prod.rendered(r["Properties"]["AlarmName"])
    }
    assert {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]} == alarm_ids
    assert len(alarm_ids) == 3


def test_alias_moves_through_codedeploy_after_the_gate_is_in_place(prod):
    alias_id, _ = prod.only("AWS::Lambda::Alias")
    alias = prod.template["Resources"][alias_id]
    app_id, _ = prod.only("AWS::CodeDeploy::Application")
    group_id, _ = prod.only("AWS::CodeDeploy::DeploymentGroup")
    hook_id = _hook(prod)[0]
    assert alias["UpdatePolicy"] == {
        "CodeDeployLambdaAliasUpdate": {
            "ApplicationName": {"Ref": app_id},
            "DeploymentGroupName": {"Ref": group_id},
            "BeforeAllowTrafficHook": {"Ref": hook_id},
        }
    }
    # The update that starts a deployment comes after the alarms, the group and the hook
    release_alarm_ids = {
        logical_id
        for logical_id, r in prod.resources("AWS::CloudWatch::Alarm").items()
        if "-release-" in prod.rendered(r["Properties"]["AlarmName"])
    }
    assert {group_id, hook_id} | release_alarm_ids <= set(alias["DependsOn"])


def test_outputs_name_the_codedeploy_application_and_group(prod):
    app_id, _ = prod.only("AWS::CodeDeploy::Application")
    group_id, _ = prod.only("AWS::CodeDeploy::DeploymentGroup")
    outputs = prod.template["Outputs"]
    assert outputs["CodeDeployApplication"]["Value"] == {"Ref": app_id}
    assert outputs["CodeDeployDeploymentGroup"]["Value"] == {"Ref": group_id}


def test_dev_moves_all_at_once_with_no_alarms_to_pay_for(dev):
    _, group = dev.only("AWS::CodeDeploy::DeploymentGroup")
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"
    assert group["AlarmConfiguration"]["Enabled"] is False
    assert group["AutoRollbackConfiguration"]["Events"] == [
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_REQUEST",
    ]
    # No alarm could judge an all-at-once shift in time; nothing warm, nothing scheduled
    assert _release_alarms(dev) == {}
    dev.assertions.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    dev.assertions.resource_count_is("AWS::Events::Rule", 0)
    _, alias = dev.only("AWS::Lambda::Alias")
    assert "ProvisionedConcurrencyConfig" not in alias
    # ...but the pre-traffic check still runs (a few invocations per deploy)
    assert _hook(dev)


@pytest.mark.parametrize(
    ("app_name", "config"),
    [
        ("dev-options", "LambdaCanary10Percent10Minutes"),
        ("prod-options", "LambdaLinear10PercentEvery1Minute"),
    ],
)
def test_deployment_config_is_a_setting(apps, app_name, config):
    _, group = apps[app_name].only("AWS::CodeDeploy::DeploymentGroup")
    assert group["DeploymentConfigName"] == f"CodeDeployDefault.{config}"
    assert len(_release_alarms(apps[app_name])) == 3


def test_release_alarms_judge_only_the_version_being_deployed(prod):
    version = _version_of(prod)
    fn_id, _ = prod.function()
    alarms = _release_alarms(prod)
    by_metric = {a["MetricName"]: a for a in alarms.values()}
    lambda_dimensions = sorted(
        [
            {"Name": "ExecutedVersion", "Value": version},
            {"Name": "FunctionName", "Value": {"Ref": fn_id}},
            {"Name": "Resource", "Value": {"Fn::Join": ["", [{"Ref": fn_id}, ":live"]]}},
        ],
        key=lambda d: d["Name"],
    )
    for metric in ("Errors", "Duration"):
        assert by_metric[metric]["Namespace"] == "AWS/Lambda"
        assert sorted(by_metric[metric]["Dimensions"], key=lambda d: d["Name"]) == lambda_dimensions
    server = by_metric["ServerErrors"]
    assert server["Namespace"] == "SklearnInference"
    assert sorted(server["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": "function_name", "Value": {"Ref": fn_id}},
        {"Name": "function_version", "Value": version},  # the handler's executed version
        {"Name": "service", "Value": "sklearn-inference"},
    ]
    for alarm in alarms.values():
        assert alarm["Period"] == 60  # CodeDeploy's shortest step
        assert alarm["TreatMissingData"] == "notBreaching"
        assert "AlarmActions" not in alarm  # they roll back; the stack alarms page
    assert (by_metric["Errors"]["Statistic"], by_metric["Errors"]["Threshold"]) == ("Sum", 0)
    assert (server["Statistic"], server["Threshold"]) == ("Sum", 0)
    duration = by_metric["Duration"]
    assert (duration["ExtendedStatistic"], duration["Threshold"]) == ("p99", 1000)
    assert (duration["DatapointsToAlarm"], duration["EvaluationPeriods"]) == (2, 3)
    assert duration["EvaluateLowSampleCountPercentile"] == "evaluate"


def test_release_alarm_names_carry_the_version_so_each_deploy_gets_fresh_ones(prod):
    version_id = _version_of(prod)["Fn::GetAtt"][0]
    assert sorted(_release_alarms(prod)) == [
        f"SklearnInference-prod-release-{concern}-v<{version_id}.Version>"
        for concern in ("duration-p99", "errors", "server-errors")
    ]


def _hook(app):
    found = [
        (logical_id, r["Properties"])
        for logical_id, r in app.resources("AWS::Lambda::Function").items()
        if r["Properties"].get("Handler") == "pre_traffic.handler"
    ]
    assert len(found) <= 1
    return found[0] if found else None


def test_hook_checks_the_new_version_against_the_reference_file(prod):
    _, hook = _hook(prod)
    fn_id, _ = prod.function()
    variables = hook["Environment"]["Variables"]
    assert variables["FUNCTION_NAME"] == {"Ref": fn_id}
    assert variables["TARGET_VERSION"] == _version_of(prod)
    assert hook["Runtime"].startswith("python3.")
    # Its check, then the canary's first step (prod: 10% for 5 minutes, its verdict 30 s early)
    window = canary_seconds(prod.settings.deployment_config)
    assert window == 270 if prod.settings.deployment_config.endswith("5Minutes") else window > 0
    assert hook["Timeout"] == 300 + window
    assert variables["CANARY_SECONDS"] == str(window)
    assert int(variables["CANARY_MIN_REQUESTS"]) >= 1
    # The reference travels as a file asset: the very file the stack was given
    asset = prod.assets["files"][variables["REFERENCE_KEY"].removesuffix(".json")]
    assert asset["source"]["packaging"] == "file"
    staged = (prod.outdir / asset["source"]["path"]).read_text()
    assert staged == REFERENCE.read_text()


def test_hook_code_asset_is_the_hook_module_alone(prod):
    _, hook = _hook(prod)
    asset = prod.assets["files"][hook["Code"]["S3Key"].removesuffix(".zip")]
    staged = prod.outdir / asset["source"]["path"]
    # No __pycache__: a stray cache would change the asset's hash from machine to machine
    assert sorted(p.name for p in staged.iterdir()) == ["pre_traffic.py"]


def test_hook_may_read_its_reference_invoke_this_function_and_report(prod):
    _, hook = _hook(prod)
    fn_id, _ = prod.function()
    group_id, _ = prod.only("AWS::CodeDeploy::DeploymentGroup")
    statements = prod.policy_of(hook["Role"]["Fn::GetAtt"][0])["PolicyDocument"]["Statement"]
    by_action = {json.dumps(s["Action"]): s for s in statements}
    s3 = by_action['"s3:GetObject"']
    assert prod.rendered(s3["Resource"]).endswith(
        "/" + hook["Environment"]["Variables"]["REFERENCE_KEY"]
    )
    invoke = by_action['"lambda:InvokeFunction"']
    assert invoke["Resource"] == [
        {"Fn::GetAtt": [fn_id, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [fn_id, "Arn"]}, ":*"]]},
    ]
    # Report its verdict, and stop a canary without evidence (below), on its own group alone
    report = by_action[
        '["codedeploy:PutLifecycleEventHookExecutionStatus", "codedeploy:StopDeployment"]'
    ]
    assert group_id in prod.rendered(report["Resource"])
    assert {json.dumps(s["Action"]) for s in statements} == set(by_action)
    assert len(statements) == 4  # and logs, nothing else


def test_codedeploy_may_invoke_the_hook(prod):
    hook_id, _ = _hook(prod)
    _, group = prod.only("AWS::CodeDeploy::DeploymentGroup")
    role_id = group["ServiceRoleArn"]["Fn::GetAtt"][0]
    role = prod.template["Resources"][role_id]["Properties"]
    (managed,) = role["ManagedPolicyArns"]
    assert prod.rendered(managed).endswith(
        ":iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"
    )
    (statement,) = prod.policy_of(role_id)["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert {"Fn::GetAtt": [hook_id, "Arn"]} in statement["Resource"]


def test_hook_off_leaves_no_hook(prod_options):
    assert _hook(prod_options) is None
    alias_id, _ = prod_options.only("AWS::Lambda::Alias")
    policy = prod_options.template["Resources"][alias_id]["UpdatePolicy"]
    assert "BeforeAllowTrafficHook" not in policy["CodeDeployLambdaAliasUpdate"]


# Provisioned concurrency while traffic shifts. Lambda splits an alias's provisioned concurrency
# between the two versions by weight and refuses any change to it while the alias is weighted,
# so: the alias alone carries it (never the versions, which would double it), and with
# autoscaling the template declares no amount that a deploy could try to write mid-shift.


def test_versions_never_carry_provisioned_concurrency_of_their_own(every_app):
    for version in every_app.resources("AWS::Lambda::Version").values():
        assert "ProvisionedConcurrencyConfig" not in version["Properties"]


def test_prod_alias_leaves_provisioned_concurrency_to_the_scalable_target(prod):
    alias_id, alias = prod.only("AWS::Lambda::Alias")
    assert "ProvisionedConcurrencyConfig" not in alias
    _, target = prod.only("AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["ScalableDimension"] == "lambda:function:ProvisionedConcurrency"
    assert {"Ref": alias_id} in target["ResourceId"]["Fn::Join"][1][1]["Fn::Select"][1]["Fn::Split"]
    assert "CodeDeployLambdaAliasUpdate" in prod.template["Resources"][alias_id]["UpdatePolicy"]


def test_a_fixed_amount_stays_on_the_alias_through_a_canary(options):
    alias_id, alias = options.only("AWS::Lambda::Alias")
    assert alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert "CodeDeployLambdaAliasUpdate" in options.template["Resources"][alias_id]["UpdatePolicy"]
    options.assertions.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)


def test_a_missing_reference_fails_every_release_not_the_synthesis(tmp_path, context_of):
    # Other stacks' builds keep working; no version gets traffic unchecked; the CLI warns
    import app as cdk_entry

    stack = cdk_entry.build(
        App(context=context_of("dev")), {}, references={"iris": tmp_path / "reference.json"}
    )
    Annotations.from_stack(stack).has_warning(
        "/SklearnInference-dev/Release",
        Match.string_like_regexp(
            r"reference\.json does not exist, so the pre-traffic hook will fail"
        ),
    )
    hook = Template.from_stack(stack).find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "pre_traffic.handler"}}
    )
    ((_, properties),) = ((k, v["Properties"]) for k, v in hook.items())
    assert set(properties["Environment"]["Variables"]) == {"FUNCTION_NAME", "TARGET_VERSION"}


def test_without_the_hook_no_reference_is_needed(tmp_path, context_of):
    import app as cdk_entry

    context = {**context_of("dev"), "pre_traffic_hook": "false"}
    stack = cdk_entry.build(
        App(context=context), {}, references={"iris": tmp_path / "missing.json"}
    )
    assert stack.models["iris"].release.hook is None


# Retrying a commit whose release rolled back (aws/aws-cdk#28252). Under Retain, the rolled-back
# version stayed behind as the newest, identical to what the retry puts in $LATEST, and Lambda
# publishes nothing then: CloudFormation failed with "A version for this Lambda function exists".
# RetainExceptOnCreate makes the rollback delete the version its own update created. That
# CloudFormation does so, and that Lambda then publishes the retry as a new version, can only be
# seen on a real account; what the template must say for it is checked in test_aws_function.py,
# and that an ordinary deploy still publishes nothing here.


def test_a_deploy_that_changes_only_a_threshold_publishes_no_version(prod, context_of, tmp_path):
    # GIVEN prod with only the release alarms' latency threshold moved
    threshold = prod.settings.alarm_latency_p99_ms + 1
    context = {**context_of("prod"), "alarm_latency_p99_ms": str(threshold)}
    changed = synthesize("prod-threshold", context, tmp_path)
    # THEN the same version resource (same logical ID): nothing is published, nothing released
    assert set(changed.resources("AWS::Lambda::Version")) == set(
        prod.resources("AWS::Lambda::Version")
    )
    assert _version_of(changed) == _version_of(prod)
    durations = [a for n, a in _release_alarms(changed).items() if "duration" in n]
    assert [a["Threshold"] for a in durations] == [threshold]


KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b5f0e3c-1111-2222-3333-444455556666"


def test_hook_may_decrypt_with_the_assets_key_only_when_one_is_set(prod, context_of):
    import app as cdk_entry

    # Off by default: S3-managed keys need no KMS permission
    _, hook = _hook(prod)
    statements = prod.policy_of(hook["Role"]["Fn::GetAtt"][0])["PolicyDocument"]["Statement"]
    assert not [s for s in statements if "kms:" in json.dumps(s["Action"])]
    # GIVEN the bootstrap bucket's customer-managed key
    context = {**context_of("dev"), "assets_kms_key_arn": KEY_ARN}
    stack = cdk_entry.build(App(context=context), {}, references={"iris": REFERENCE})
    assert stack.models["iris"].settings.assets_kms_key_arn == KEY_ARN
    # THEN the hook may decrypt with that key, through S3 alone
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "kms:Decrypt",
                            "Effect": "Allow",
                            "Resource": KEY_ARN,
                            "Condition": {
                                "StringEquals": {
                                    "kms:ViaService": {
                                        "Fn::Join": [
                                            "",
                                            ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"],
                                        ]
                                    }
                                }
                            },
                        }
                    ]
                )
            }
        },
    )


def test_assets_key_must_be_a_kms_key_arn():
    from stacks.settings import SettingsError, build_settings

    with pytest.raises(SettingsError, match="assets_kms_key_arn must be a KMS key ARN"):
        build_settings({"env": "prod", "assets_kms_key_arn": "alias/aws/s3"})


@pytest.mark.parametrize(
    ("config", "seconds"),
    [
        ("AllAtOnce", 0),
        ("Canary10Percent5Minutes", 270),
        ("Canary10Percent30Minutes", 540),  # Lambda's 15-minute ceiling, less the check
        ("Linear10PercentEvery1Minute", 30),
        ("Linear10PercentEvery3Minutes", 150),
    ],
)
def test_the_canary_covers_the_first_step_of_the_shift(config, seconds):
    assert canary_seconds(config) == seconds


def test_dev_moving_all_at_once_sends_no_canary_traffic(dev):
    _, hook = _hook(dev)
    assert "CANARY_SECONDS" not in hook["Environment"]["Variables"]
    assert hook["Timeout"] == 300
    statements = dev.policy_of(hook["Role"]["Fn::GetAtt"][0])["PolicyDocument"]["Statement"]
    assert "codedeploy:StopDeployment" not in json.dumps(statements)


def test_the_canary_may_stop_its_own_deployment_group_and_nothing_else(prod):
    _, hook = _hook(prod)
    group_id, _ = prod.only("AWS::CodeDeploy::DeploymentGroup")
    statements = prod.policy_of(hook["Role"]["Fn::GetAtt"][0])["PolicyDocument"]["Statement"]
    (stop,) = [s for s in statements if "codedeploy:StopDeployment" in s["Action"]]
    assert group_id in prod.rendered(stop["Resource"])
