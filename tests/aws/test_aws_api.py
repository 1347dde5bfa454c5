"""The HTTP API: routes on the alias, permissions, stage throttling, access logs, CORS, auth."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

pytestmark = pytest.mark.slow


def _route_keys(app):
    return sorted(
        r["Properties"]["RouteKey"] for r in app.resources("AWS::ApiGatewayV2::Route").values()
    )


def test_routes_are_post_predict_get_health_and_a_catch_all(dev, prod):
    # $default hands every other path and method to the handler: its JSON 404 and 405 + Allow,
    # not API Gateway's {"message":"Not Found"}
    for app in (dev, prod):
        assert _route_keys(app) == ["$default", "GET /health", "POST /predict"]


def test_with_cors_and_an_authorizer_preflights_get_a_route_of_their_own(options, prod_options):
    # A browser's OPTIONS preflight carries no credentials: $default's authorizer would refuse it
    for app in (options, prod_options):
        assert _route_keys(app) == [
            "$default",
            "GET /health",
            "OPTIONS /{proxy+}",
            "POST /predict",
        ]
        (preflight,) = [
            r["Properties"]
            for r in app.resources("AWS::ApiGatewayV2::Route").values()
            if r["Properties"]["RouteKey"] == "OPTIONS /{proxy+}"
        ]
        assert preflight["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in preflight


def test_integration_invokes_the_alias_not_the_function(every_app):
    # One integration per model, each on its model's alias; every route goes through one
    aliases = [{"Ref": alias_id} for alias_id in every_app.resources("AWS::Lambda::Alias")]
    integrations = every_app.resources("AWS::ApiGatewayV2::Integration")
    assert len(integrations) == len(aliases) == len(every_app.models.models)
    for integration in (i["Properties"] for i in integrations.values()):
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["IntegrationUri"] in aliases
        assert integration["PayloadFormatVersion"] == "2.0"
        assert integration["TimeoutInMillis"] == 29000
    targets = {
        json.dumps({"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]})
        for integration_id in integrations
    }
    for route in every_app.resources("AWS::ApiGatewayV2::Route").values():
        assert json.dumps(route["Properties"]["Target"]) in targets


def test_invoke_permissions_are_on_the_alias_and_scoped_to_each_route(prod):
    alias_id, _ = prod.only("AWS::Lambda::Alias")
    api_id, _ = prod.only("AWS::ApiGatewayV2::Api")
    permissions = [
        p["Properties"]
        for p in prod.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    suffixes = set()
    for props in permissions:
        assert props["FunctionName"] == {"Ref": alias_id}
        assert props["Action"] == "lambda:InvokeFunction"
        parts = props["SourceArn"]["Fn::Join"][1]
        assert {"Ref": api_id} in parts
        suffixes.add(parts[-1])
    # $default's permission names no path: the catch-all may be called on any
    assert suffixes == {"/*/*/predict", "/*/*/health", "/*/*"}


@pytest.mark.parametrize(("app_name", "rate", "burst"), [("dev", 10, 20), ("prod", 100, 200)])
def test_default_stage_throttles_and_auto_deploys(apps, app_name, rate, burst):
    app = apps[app_name]
    app.assertions.resource_count_is("AWS::ApiGatewayV2::Stage", 1)
    app.assertions.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst},
        },
    )


def test_stage_writes_json_access_logs_to_a_retained_group(prod):
    _, stage = prod.only("AWS::ApiGatewayV2::Stage")
    settings = stage["AccessLogSettings"]
    group_id = settings["DestinationArn"]["Fn::GetAtt"][0]
    group = prod.template["Resources"][group_id]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == 90
    record = json.loads(settings["Format"])
    assert record["requestId"] == "$context.requestId"
    assert {"status", "routeKey", "ip", "responseLatency", "integrationError"} <= set(record)
    assert all(value.startswith("$context.") for value in record.values())


def test_access_log_keeps_the_functions_status_apart_from_lambdas_invoke_status(prod):
    _, stage = prod.only("AWS::ApiGatewayV2::Stage")
    record = json.loads(stage["AccessLogSettings"]["Format"])
    # The statusCode the handler returned (a 503 when the model is missing)...
    assert record["functionStatus"] == "$context.integration.status"
    # ...and Lambda's Invoke API answer to API Gateway (200 even then)
    assert record["lambdaInvokeStatus"] == "$context.integrationStatus"
    assert "integrationStatus" not in record


@pytest.mark.parametrize("app_name", ["dev", "prod"])
def test_api_is_named_after_its_stack(apps, app_name):
    _, api = apps[app_name].only("AWS::ApiGatewayV2::Api")
    assert api["Name"] == apps[app_name].settings.stack_name


def test_no_cors_unless_origins_are_configured(dev, prod):
    for app in (dev, prod):
        app.assertions.has_resource_properties(
            "AWS::ApiGatewayV2::Api", {"CorsConfiguration": Match.absent()}
        )


def test_cors_allows_only_the_configured_origins(options):
    options.assertions.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {
            "CorsConfiguration": {
                "AllowOrigins": ["https://app.example.com", "http://localhost:3000"],
                "AllowMethods": ["GET", "POST"],
                # JWT: a bearer token, no SigV4 headers
                "AllowHeaders": ["content-type", "authorization"],
            }
        },
    )


def test_cors_with_iam_auth_allows_the_headers_a_signed_browser_request_sends(prod_options):
    _, api = prod_options.only("AWS::ApiGatewayV2::Api")
    cors = api["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://app.example.com"]
    assert set(cors["AllowHeaders"]) == {
        "content-type",
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "x-amz-user-agent",
    }


def test_dev_routes_are_public(dev):
    dev.assertions.resource_count_is("AWS::ApiGatewayV2::Authorizer", 0)
    for route in dev.resources("AWS::ApiGatewayV2::Route").values():
        assert route["Properties"].get("AuthorizationType", "NONE") == "NONE"


def test_jwt_setting_protects_every_route(options):
    authorizer_id, authorizer = options.only("AWS::ApiGatewayV2::Authorizer")
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["JwtConfiguration"] == {
        "Issuer": "https://issuer.example.com/",
        "Audience": ["inference-api", "web"],
    }
    for route in _authorized_routes(options):
        assert route["AuthorizationType"] == "JWT"
        assert route["AuthorizerId"] == {"Ref": authorizer_id}


def test_prod_is_private_every_route_needs_sigv4(prod, prod_options):
    for app in (prod, prod_options):
        assert [r["AuthorizationType"] for r in _authorized_routes(app)] == ["AWS_IAM"] * 3


def _authorized_routes(app):
    """Every route but the CORS preflight one (tested above)."""
    return [
        r["Properties"]
        for r in app.resources("AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["RouteKey"] != "OPTIONS /{proxy+}"
    ]


@pytest.mark.parametrize(
    ("app_name", "auth"), [("dev", "none"), ("prod", "iam"), ("dev-options", "jwt")]
)
def test_api_auth_output_says_what_callers_need(apps, app_name, auth):
    # ops.verify reads it to decide whether to sign its requests
    assert apps[app_name].template["Outputs"]["ApiAuth"]["Value"] == auth
