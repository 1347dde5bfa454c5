"""The HTTP API in front of the `live` alias: routes, stage, throttling, access logs, CORS, auth."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class RouteTarget:
    """One model's routes: `<prefix>/predict` and `<prefix>/health` on its `live` alias (prefix
    "" for the stack's primary model, `/models/<name>` for any other)."""

    prefix: str
    alias: lambda_.IAlias


class InferenceApi(Construct):
    """`POST /predict`, `GET /health` and a catch-all route on each model's alias, behind a
    throttled, logged `$default` stage.

    Exposes `api`, `stage`, `access_logs` and `url` (ends with "/").
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        targets: Sequence[RouteTarget],
    ) -> None:
        super().__init__(scope, id)
        if not targets:
            raise ValueError("InferenceApi needs at least one model to route to")
        self._preflight = bool(settings.cors_allowed_origins) and settings.auth != "none"

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
        routed = {target.prefix: self._routes(target) for target in targets}
        # Every other path and method reaches a handler too, behind the same authorizer, so a
        # caller gets its JSON 404 `not_found` or 405 `method_not_allowed` with `Allow` (the
        # documented contract) instead of API Gateway's bare {"message":"Not Found"}. Outside
        # every model's prefix the primary model's handler answers (the first declared model's
        # when the stack has no primary one).
        self._catch_all("", routed.get("", routed[targets[0].prefix]))

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

    def _routes(self, target: RouteTarget) -> apigwv2.HttpRouteIntegration:
        # The integration targets the alias, never the bare function: invoking the function
        # would run $LATEST and bypass the alias's provisioned concurrency. CDK also scopes the
        # invoke permission to the alias and to each route.
        integration = integrations.HttpLambdaIntegration(
            "Alias",
            target.alias,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
            timeout=INTEGRATION_TIMEOUT,
        )
        self.api.add_routes(
            path=f"{target.prefix}/predict",
            methods=[apigwv2.HttpMethod.POST],
            integration=integration,
        )
        self.api.add_routes(
            path=f"{target.prefix}/health",
            methods=[apigwv2.HttpMethod.GET],
            integration=integration,
        )
        if target.prefix:
            # Under its prefix, anything else is the model's own: GET .../predict is its 405
            # with `Allow: POST`, an unknown path its 404.
            self._catch_all(target.prefix, integration)
        return integration

    def _catch_all(self, prefix: str, integration: apigwv2.HttpRouteIntegration) -> None:
        """`ANY <prefix>/{proxy+}`, or `$default` for the whole API; with CORS and an authorizer,
        also `OPTIONS <prefix>/{proxy+}` without authorization. A catch-all matches OPTIONS too,
        so behind an authorizer a browser's preflight (which carries no credentials) would be
        refused; API Gateway's CORS guide ("a $default route and an authorizer") prescribes the
        unauthorized OPTIONS route, which outranks the catch-all."""
        if prefix:
            self.api.add_routes(
                path=f"{prefix}/{{proxy+}}",
                methods=[apigwv2.HttpMethod.ANY],
                integration=integration,
            )
        else:
            apigwv2.HttpRoute(
                self.api,
                "DefaultRoute",
                http_api=self.api,
                route_key=apigwv2.HttpRouteKey.DEFAULT,
                integration=integration,
            )
        if not self._preflight:
            return
        (preflight,) = self.api.add_routes(
            path=f"{prefix}/{{proxy+}}",
            methods=[apigwv2.HttpMethod.OPTIONS],
            integration=integration,
            authorizer=apigwv2.HttpNoneAuthorizer(),
        )
        Validations.of(preflight).acknowledge(
            Acknowledgment(
                id="AwsSolutions-APIG4",
                reason="CORS preflight only: browsers send OPTIONS without credentials, so it "
                "cannot be authorized. The route answers OPTIONS and nothing else; every route "
                "that serves a prediction or the health check keeps the API's authorizer.",
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


def _authorizer(settings: DeploySettings) -> apigwv2.IHttpRouteAuthorizer | None:
    if settings.auth == "jwt":
        assert settings.jwt_issuer is not None  # DeploySettings validated it
        return authorizers.HttpJwtAuthorizer(
            "Jwt", settings.jwt_issuer, jwt_audience=list(settings.jwt_audiences)
        )
    if settings.auth == "iam":
        return authorizers.HttpIamAuthorizer()
    return None
