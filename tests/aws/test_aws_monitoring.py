"""Alarms on the alias and the API, their topic, the dashboard, and the stack's outputs."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def _alias_dimensions(app):
    fn_id, _ = app.only("AWS::Lambda::Function")
    return [
        {"Name": "FunctionName", "Value": {"Ref": fn_id}},
        {"Name": "Resource", "Value": {"Fn::Join": ["", [{"Ref": fn_id}, ":live"]]}},
    ]


# concern, metric, statistic key, statistic, threshold
ALIAS_ALARMS = [
    ("errors", "Errors", "Statistic", "Sum", 5),
    ("duration-p99", "Duration", "ExtendedStatistic", "p99", 1000),
    ("throttles", "Throttles", "Statistic", "Sum", 0),
    ("pc-spillover", "ProvisionedConcurrencySpilloverInvocations", "Statistic", "Sum", 0),
]


@pytest.mark.parametrize(("concern", "metric", "stat_key", "stat", "threshold"), ALIAS_ALARMS)
def test_alias_alarm(prod, concern, metric, stat_key, stat, threshold):
    alarm = prod.alarm(concern)
    topic_id, _ = prod.only("AWS::SNS::Topic")
    assert alarm["Namespace"] == "AWS/Lambda"
    assert alarm["MetricName"] == metric
    assert alarm[stat_key] == stat
    assert alarm["Period"] == 300
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["DatapointsToAlarm"] == 1
    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["Dimensions"] == _alias_dimensions(prod)
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert alarm["OKActions"] == [{"Ref": topic_id}]


def test_api_5xx_alarm(prod):
    alarm = prod.alarm("api-5xx")
    api_id, _ = prod.only("AWS::ApiGatewayV2::Api")
    topic_id, _ = prod.only("AWS::SNS::Topic")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/ApiGateway",
        "5xx",
        "Sum",
    )
    assert alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": api_id}}]
    assert (alarm["Period"], alarm["Threshold"]) == (300, 5)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_spillover_alarm_exists_only_with_provisioned_concurrency(dev, prod):
    names = lambda app: sorted(  # noqa: E731
        a["Properties"]["AlarmName"] for a in app.resources("AWS::CloudWatch::Alarm").values()
    )
    assert names(prod) == [
        "SklearnInference-prod-api-5xx",
        "SklearnInference-prod-duration-p99",
        "SklearnInference-prod-errors",
        "SklearnInference-prod-pc-spillover",
        "SklearnInference-prod-throttles",
    ]
    assert "SklearnInference-dev-pc-spillover" not in names(dev)
    assert len(names(dev)) == 4


def test_every_alarm_notifies_the_one_topic(every_app):
    topic_id, _ = every_app.only("AWS::SNS::Topic")
    for alarm in every_app.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]


def test_topic_refuses_plain_http_publishers(prod):
    topic_id, _ = prod.only("AWS::SNS::Topic")
    _, policy = prod.only("AWS::SNS::TopicPolicy")
    assert policy["Topics"] == [{"Ref": topic_id}]
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == "sns:Publish"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_topic_lets_only_this_stacks_alarms_publish(prod):
    # The explicit topic policy replaces SNS's default one, so CloudWatch needs its own grant.
    topic_id, _ = prod.only("AWS::SNS::Topic")
    _, policy = prod.only("AWS::SNS::TopicPolicy")
    (allow,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic_id}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = allow["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1]
    assert source_arn[-1] == ":alarm:SklearnInference-prod-*"
    # ...and every alarm's name falls under that pattern
    for alarm in prod.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmName"].startswith("SklearnInference-prod-")


def test_email_subscription_only_when_configured(dev, options):
    dev.assertions.resource_count_is("AWS::SNS::Subscription", 0)
    options.assertions.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


def _rendered(value) -> str:
    """An Fn::Join with every Ref rendered as <LogicalId>."""
    return "".join(
        p if isinstance(p, str) else f"<{p.get('Ref', p)}>" for p in value["Fn::Join"][1]
    )


def _dashboard_text(app) -> str:
    _, dashboard = app.only("AWS::CloudWatch::Dashboard")
    return _rendered(dashboard["DashboardBody"])


def test_dashboard_covers_function_cold_starts_concurrency_and_api(prod):
    text = _dashboard_text(prod)
    fn_id, _ = prod.only("AWS::Lambda::Function")
    widgets = json.loads(text)["widgets"]
    metrics = [m for w in widgets for m in w["properties"].get("metrics", [])]
    by_name = {m[1]: m for m in metrics}
    for name in (
        "Invocations",
        "Errors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",
        "ProvisionedConcurrencyUtilization",
        "ProvisionedConcurrencySpilloverInvocations",
        "Count",
        "Latency",
        "IntegrationLatency",
        "4xx",
        "5xx",
    ):
        assert name in by_name, name
    stats = {m[-1].get("stat") for m in metrics if m[1] in ("Duration", "Latency")}
    assert {"p50", "p99"} <= stats
    # The Powertools ColdStart metric: namespace from the function environment, dimensions
    # exactly as Powertools emits them (function_name = bare function name, service).
    cold = by_name["ColdStart"]
    assert cold[:6] == [
        "SklearnInference",
        "ColdStart",
        "function_name",
        f"<{fn_id}>",
        "service",
        "sklearn-inference",
    ]
    assert "@initDuration" in text


def test_dashboard_shows_provisioned_concurrency_only_when_enabled(dev):
    assert "ProvisionedConcurrencyUtilization" not in _dashboard_text(dev)


def test_outputs_give_url_curl_function_alias_dashboard_and_topic(prod):
    outputs = prod.template["Outputs"]
    assert {
        "ApiUrl",
        "ApiAuth",
        "ApiInvokeArn",
        "PredictCommand",
        "FunctionName",
        "FunctionLogGroup",
        "AliasArn",
        "DashboardUrl",
        "AlarmTopicArn",
    } <= set(outputs)
    alias_id, _ = prod.only("AWS::Lambda::Alias")
    topic_id, _ = prod.only("AWS::SNS::Topic")
    api_id, _ = prod.only("AWS::ApiGatewayV2::Api")
    assert outputs["AliasArn"]["Value"] == {"Ref": alias_id}
    _, fn = prod.only("AWS::Lambda::Function")
    assert outputs["FunctionLogGroup"]["Value"] == fn["LoggingConfig"]["LogGroup"]
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": topic_id}
    invoke_arn = outputs["ApiInvokeArn"]["Value"]["Fn::Join"][1]
    assert {"Ref": api_id} in invoke_arn and invoke_arn[-1] == "/$default/*/*"
    assert "#dashboards:name=" in "".join(
        p for p in outputs["DashboardUrl"]["Value"]["Fn::Join"][1] if isinstance(p, str)
    )


def test_predict_command_signs_with_sigv4_when_the_api_needs_iam(prod):
    curl = _rendered(prod.template["Outputs"]["PredictCommand"]["Value"])
    assert curl.startswith('curl -sS --aws-sigv4 "aws:amz:<AWS::Region>:execute-api" ')
    assert '--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"' in curl
    assert "-X POST https://" in curl
    assert curl.endswith(
        "/predict -H 'content-type: application/json' -d '{\"features\": [5.1, 3.5, 1.4, 0.2]}'"
    )


@pytest.mark.parametrize(
    ("app_name", "credentials"),
    [("dev", ""), ("dev-options", '-H "authorization: Bearer $TOKEN" ')],
)
def test_predict_command_for_public_and_jwt_apis(apps, app_name, credentials):
    curl = _rendered(apps[app_name].template["Outputs"]["PredictCommand"]["Value"])
    assert curl.startswith(f"curl -sS {credentials}-X POST https://")
