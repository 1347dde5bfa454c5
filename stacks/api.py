"""The HTTP API in front of the `live` alias: routes, stage, throttling, access logs, CORS, auth."""

from __future__ import annotations

import json

import jsii
from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.logs import log_group
from stacks.settings import DeploySettings

# The HTTP API stops waiting for any integration after 29 s; the function's own timeout
# (settings, at most 29 s) is what normally ends a slow request.
INTEGRATION_TIMEOUT = Duration.seconds(29)

# One JSON object per request. Every value is quoted: API Gateway writes "-" for a missing
# variable, which would be invalid JSON unquoted.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "routeKey": "$context.routeKey",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    # Two different statuses, named so nobody confuses them: what the function's response said
    # (500 when the handler answered 500), and what Lambda's Invoke API answered API Gateway
    # (200 whenever the invoke itself worked, whatever the function returned; 429 or 5xx only
    # when Lambda throttled or failed).
    "functionStatus": "$context.integration.status",
    "lambdaInvokeStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
    "authorizerError": "$context.authorizer.error",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """A plain dict is not accepted where jsii expects this interface (it fails at run time)."""

    def __init__(
        self, destination: apigwv2.IAccessLogDestination, format: apigw.AccessLogFormat
    ) -> None:
        self._destination = destination
        self._format = format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


class InferenceApi(Construct):
    """`POST /predict`, `GET /health` and a catch-all `$default` route on the alias, behind a
    throttled, logged `$default` stage.

    Exposes `api`, `stage`, `access_logs` and `url` (ends with "/").
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        alias: lambda_.IAlias,
    ) -> None:
        super().__init__(scope, id)

        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=settings.stack_name,  # what the console lists; one per stack
            description=f"scikit-learn inference ({settings.env_name})",
            # An explicit stage below carries throttling and access logs.
            create_default_stage=False,
            cors_preflight=_cors(settings),
            default_authorizer=_authorizer(settings),
        )

        # The integration targets the alias, never the bare function: invoking the function
        # would run $LATEST and bypass the alias's provisioned concurrency. CDK also scopes the
        # invoke permission to the alias and to each route.
        integration = integrations.HttpLambdaIntegration(
            "Alias",
            alias,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
            timeout=INTEGRATION_TIMEOUT,
        )
        self.api.add_routes(
            path="/predict", methods=[apigwv2.HttpMethod.POST], integration=integration
        )
        self.api.add_routes(
            path="/health", methods=[apigwv2.HttpMethod.GET], integration=integration
        )
        # Every other path and method reaches the handler too, behind the same authorizer, so
        # a caller gets its JSON 404 `not_found` or 405 `method_not_allowed` with `Allow` (the
        # documented contract) instead of API Gateway's bare {"message":"Not Found"}.
        apigwv2.HttpRoute(
            self.api,
            "DefaultRoute",
            http_api=self.api,
            route_key=apigwv2.HttpRouteKey.DEFAULT,
            integration=integration,
        )
        if settings.cors_allowed_origins and settings.auth != "none":
            _preflight_route(self.api, integration)

        self.access_logs = log_group(
            self,
            "AccessLogs",
            retention_days=settings.log_retention_days,
            retain=settings.retain_logs,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=settings.throttle_rate_limit,
                burst_limit=settings.throttle_burst_limit,
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
        )
        self.url: str = self.stage.url

        if settings.auth == "none":
            Validations.of(self.api).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-APIG4",
                    reason="Public demo API by design (settings auth=none): it serves "
                    "predictions of a public model and holds no data; stage throttling caps "
                    "abuse. Set auth=jwt or auth=iam to require authorization on every route.",
                )
            )


# What a browser signs with SigV4 (aws4fetch, the AWS SDK for JavaScript) besides
# `authorization`: HTTP API's CORS takes no header wildcards but "*", so each one is listed.
SIGV4_HEADERS = ("x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "x-amz-user-agent")


def _cors(settings: DeploySettings) -> apigwv2.CorsPreflightOptions | None:
    if not settings.cors_allowed_origins:
        return None
    headers = ["content-type", "authorization"]
    if settings.auth == "iam":
        headers += SIGV4_HEADERS
    return apigwv2.CorsPreflightOptions(
        allow_origins=list(settings.cors_allowed_origins),
        allow_methods=[apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.POST],
        allow_headers=headers,
        max_age=Duration.hours(1),
    )


def _preflight_route(api: apigwv2.HttpApi, integration: apigwv2.HttpRouteIntegration) -> None:
    """`OPTIONS /{proxy+}` without authorization. The `$default` route catches OPTIONS too, so
    behind an authorizer a browser's preflight (which carries no credentials) would be refused;
    API Gateway's guide ("Configure CORS for HTTP APIs": a `$default` route and an authorizer)
    prescribes this route, which outranks `$default`. It is only created with CORS configured."""
    route = apigwv2.HttpRoute(
        api,
        "PreflightRoute",
        http_api=api,
        route_key=apigwv2.HttpRouteKey.with_("/{proxy+}", apigwv2.HttpMethod.OPTIONS),
        integration=integration,
        authorizer=apigwv2.HttpNoneAuthorizer(),
    )
    Validations.of(route).acknowledge(
        Acknowledgment(
            id="AwsSolutions-APIG4",
            reason="CORS preflight only: browsers send OPTIONS without credentials, so it cannot "
            "be authorized. The route answers OPTIONS and nothing else; every route that serves "
            "a prediction or the health check keeps the API's authorizer.",
        )
    )


def _authorizer(settings: DeploySettings) -> apigwv2.IHttpRouteAuthorizer | None:
    if settings.auth == "jwt":
        assert settings.jwt_issuer is not None  # DeploySettings validated it
        return authorizers.HttpJwtAuthorizer(
            "Jwt", settings.jwt_issuer, jwt_audience=list(settings.jwt_audiences)
        )
    if settings.auth == "iam":
        return authorizers.HttpIamAuthorizer()
    return None
