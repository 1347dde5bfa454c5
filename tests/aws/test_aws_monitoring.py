"""Alarms on the alias and the API, their topic, the dashboard, and the stack's outputs."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def _alias_dimensions(app):
    fn_id, _ = app.function()
    return [
        {"Name": "FunctionName", "Value": {"Ref": fn_id}},
        {"Name": "Resource", "Value": {"Fn::Join": ["", [{"Ref": fn_id}, ":live"]]}},
    ]


# concern, metric, statistic key, statistic, threshold, (datapoints, of periods)
ALIAS_ALARMS = [
    ("errors", "Errors", "Statistic", "Sum", 5, (1, 1)),
    # 2 of 3: one slow period is not enough
    ("duration-p99", "Duration", "ExtendedStatistic", "p99", 1000, (2, 3)),
    ("throttles", "Throttles", "Statistic", "Sum", 0, (1, 1)),
    # 3 of 3: spill-over for longer than the autoscaler needs to react (about 5 minutes)
    ("pc-spillover", "ProvisionedConcurrencySpilloverInvocations", "Statistic", "Sum", 0, (3, 3)),
]


@pytest.mark.parametrize(
    ("concern", "metric", "stat_key", "stat", "threshold", "rule"), ALIAS_ALARMS
)
def test_alias_alarm(prod, concern, metric, stat_key, stat, threshold, rule):
    alarm = prod.alarm(concern)
    topic_id, _ = prod.only("AWS::SNS::Topic")
    assert alarm["Namespace"] == "AWS/Lambda"
    assert alarm["MetricName"] == metric
    assert alarm[stat_key] == stat
    assert alarm["Period"] == 300
    assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == rule
    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["Dimensions"] == _alias_dimensions(prod)
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert alarm["OKActions"] == [{"Ref": topic_id}]


def test_duration_p99_is_not_judged_on_too_few_requests(dev, prod):
    # Below 1000 requests in a period, p99 is the slowest request or two: the alarm holds its
    # state instead of paging on one slow call.
    for app in (dev, prod):
        assert app.alarm("duration-p99")["EvaluateLowSampleCountPercentile"] == "ignore"


def _handler_dimensions(app):
    fn_id, _ = app.function()
    return [
        {"Name": "function_name", "Value": {"Ref": fn_id}},
        {"Name": "service", "Value": "sklearn-inference"},
    ]


def test_server_errors_alarm_watches_the_handlers_own_5xx_metric(dev, prod):
    # Lambda's Errors never sees a 503 model_unavailable: the handler answers it.
    for app in (dev, prod):
        alarm = app.alarm("server-errors")
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
            "SklearnInference",
            "ServerErrors",
            "Sum",
        )
        # The dimension set without the version: one series across deploys
        assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == _handler_dimensions(app)
        assert (alarm["Period"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (300, 5, 1)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        # No 5xx, no data point: that is healthy
        assert alarm["TreatMissingData"] == "notBreaching"


def test_health_check_alarm_fires_when_healthy_answers_stop(prod):
    alarm = prod.alarm("health-check")
    topic_id, _ = prod.only("AWS::SNS::Topic")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "SklearnInference",
        "HealthCheck",
        "Minimum",
    )
    assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == _handler_dimensions(prod)
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == 1
    # An idle outage or a stopped schedule leaves no data: that must page too
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["Period"], alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (300, 2, 2)
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_health_check_invokes_the_live_alias_every_minute(prod):
    alias_id, _ = prod.only("AWS::Lambda::Alias")
    rule_id, rule = prod.only("AWS::Events::Rule")
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": alias_id}
    assert json.loads(target["Input"]) == {"healthcheck": True}
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 120
    (permission,) = [
        p["Properties"]
        for p in prod.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert permission["FunctionName"] == {"Ref": alias_id}
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_dev_has_no_health_check(dev):
    dev.assertions.resource_count_is("AWS::Events::Rule", 0)


def _alarm_names(app):
    """The stack's alarms (those that notify), without the per-version release alarms."""
    return sorted(name for name in app.alarms() if "-release-" not in name)


def test_alarm_set_per_environment(dev, prod):
    assert _alarm_names(prod) == [
        "SklearnInference-prod-api-5xx",
        "SklearnInference-prod-duration-p99",
        "SklearnInference-prod-errors",
        "SklearnInference-prod-health-check",
        "SklearnInference-prod-pc-spillover",
        "SklearnInference-prod-server-errors",
        "SklearnInference-prod-throttles",
    ]
    # No provisioned concurrency and no health check in dev
    assert _alarm_names(dev) == [
        "SklearnInference-dev-api-5xx",
        "SklearnInference-dev-duration-p99",
        "SklearnInference-dev-errors",
        "SklearnInference-dev-server-errors",
        "SklearnInference-dev-throttles",
    ]


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


def test_every_stack_alarm_notifies_the_one_topic_and_release_alarms_do_not(every_app):
    # Release alarms roll a deployment back; the stack's alarms already page for the same faults
    topic_id, _ = every_app.only("AWS::SNS::Topic")
    for name, alarm in every_app.alarms().items():
        if "-release-" in name:
            assert "AlarmActions" not in alarm and "OKActions" not in alarm, name
        else:
            assert alarm["AlarmActions"] == [{"Ref": topic_id}], name


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
    for name in prod.alarms():
        assert name.startswith("SklearnInference-prod-"), name


def test_email_subscription_only_when_configured(dev, options):
    dev.assertions.resource_count_is("AWS::SNS::Subscription", 0)
    options.assertions.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


def _dashboard_text(app) -> str:
    _, dashboard = app.only("AWS::CloudWatch::Dashboard")
    return app.rendered(dashboard["DashboardBody"])


def test_dashboard_covers_function_cold_starts_concurrency_and_api(prod):
    text = _dashboard_text(prod)
    fn_id, _ = prod.function()
    widgets = json.loads(text)["widgets"]
    lines = [m for w in widgets for m in w["properties"].get("metrics", [])]
    metrics = [m for m in lines if isinstance(m[0], str)]
    expressions = [m[0]["expression"] for m in lines if isinstance(m[0], dict)]
    by_name = {m[1]: m for m in metrics}
    for name in (
        "Invocations",
        "Errors",
        "ServerErrors",
        "HealthCheck",
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
    # The handler's EMF metrics: namespace from the function environment, dimensions exactly as
    # the handler emits them (function_name = bare function name, service).
    for name in ("ColdStart", "ServerErrors", "HealthCheck"):
        namespace, _, *dimensions = by_name[name][:6]
        assert namespace == "SklearnInference"
        assert dict(zip(dimensions[::2], dimensions[1::2], strict=True)) == {
            "function_name": f"<{fn_id}>",
            "service": "sklearn-inference",
        }
    assert "@initDuration" in text
    assert expressions == ["100 * errors / requests"]  # the API's 5xx rate


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
    _, fn = prod.function()
    assert outputs["FunctionLogGroup"]["Value"] == fn["LoggingConfig"]["LogGroup"]
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": topic_id}
    invoke_arn = outputs["ApiInvokeArn"]["Value"]["Fn::Join"][1]
    assert {"Ref": api_id} in invoke_arn and invoke_arn[-1] == "/$default/*/*"
    assert "#dashboards:name=" in "".join(
        p for p in outputs["DashboardUrl"]["Value"]["Fn::Join"][1] if isinstance(p, str)
    )


def test_predict_command_signs_with_sigv4_when_the_api_needs_iam(prod):
    curl = prod.rendered(prod.template["Outputs"]["PredictCommand"]["Value"])
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
    curl = apps[app_name].rendered(apps[app_name].template["Outputs"]["PredictCommand"]["Value"])
    assert curl.startswith(f"curl -sS {credentials}-X POST https://")
