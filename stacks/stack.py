"""One environment's deployment: composes the constructs and emits the outputs, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Fn, Stack, Tags
from constructs import Construct

from stacks.api import InferenceApi
from stacks.function import InferenceFunction
from stacks.health import InferenceHealthCheck
from stacks.monitoring import InferenceMetrics, InferenceMonitoring
from stacks.release import InferenceRelease
from stacks.settings import DeploySettings

SAMPLE_BODY = '{"features": [5.1, 3.5, 1.4, 0.2]}'
# The golden predictions the pre-traffic hook checks each new version against (model/train.py).
REFERENCE_FILE = Path(__file__).resolve().parent.parent / "model" / "artifacts" / "reference.json"


def _predict_command(auth: str, url: str) -> list[str]:
    """curl signs SigV4 itself (7.75+); the session token header is for temporary credentials."""
    credentials = {
        "none": "",
        "jwt": '-H "authorization: Bearer $TOKEN" ',
        "iam": '--aws-sigv4 "aws:amz:'
        + Aws.REGION
        + ':execute-api" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" '
        '-H "x-amz-security-token: $AWS_SESSION_TOKEN" ',
    }[auth]
    return [
        "curl -sS " + credentials + "-X POST ",
        url,
        "predict -H 'content-type: application/json' -d '" + SAMPLE_BODY + "'",
    ]


class InferenceStack(Stack):
    """The container-image function and its alias, the HTTP API, alarms and dashboard, and the
    CodeDeploy release of each new version."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        reference_file: Path = REFERENCE_FILE,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            id,
            stack_name=settings.stack_name,
            description=f"scikit-learn inference: Lambda behind an HTTP API ({settings.env_name})",
            termination_protection=settings.termination_protection,
            **kwargs,
        )
        Tags.of(self).add("Project", "sklearn-serverless-inference")
        Tags.of(self).add("Environment", settings.env_name)
        for key, value in settings.tags.items():
            Tags.of(self).add(key, value)

        self.inference = InferenceFunction(self, "Inference", settings=settings)
        self.http = InferenceApi(self, "Http", settings=settings, alias=self.inference.alias)
        if settings.health_check_minutes:
            InferenceHealthCheck(self, "HealthCheck", settings=settings, alias=self.inference.alias)
        self.monitoring = InferenceMonitoring(
            self,
            "Monitoring",
            settings=settings,
            metrics=InferenceMetrics.of(
                function=self.inference.function,
                alias=self.inference.alias,
                api=self.http.api,
                settings=settings,
            ),
            function_log_group=self.inference.log_group,
        )
        self.release = InferenceRelease(
            self,
            "Release",
            settings=settings,
            function=self.inference.function,
            alias=self.inference.alias,
            reference_file=reference_file,
        )

        CfnOutput(self, "ApiUrl", value=self.http.url, description="Base URL of the HTTP API")
        CfnOutput(
            self,
            "ApiAuth",
            value=settings.auth,
            description="What every route requires: none, jwt (a bearer token) or iam (SigV4)",
        )
        CfnOutput(
            self,
            "ApiInvokeArn",
            value=self.http.api.arn_for_execute_api("*", "/*", "$default"),
            description="Grant execute-api:Invoke on this to the IAM callers of an auth=iam API",
        )
        CfnOutput(
            self,
            "PredictCommand",
            value=Fn.join("", _predict_command(settings.auth, self.http.url)),
            description="A prediction request to paste into a shell",
        )
        CfnOutput(self, "FunctionName", value=self.inference.function.function_name)
        CfnOutput(
            self,
            "FunctionLogGroup",
            value=self.inference.log_group.log_group_name,
            description="Function logs, REPORT lines with Init Duration included",
        )
        CfnOutput(
            self,
            "AliasArn",
            value=self.inference.alias.function_arn,
            description="The live alias (what the API invokes; use it for direct invokes too)",
        )
        CfnOutput(
            self,
            "DashboardUrl",
            value=Fn.join(
                "",
                [
                    "https://",
                    Aws.REGION,
                    ".console.aws.amazon.com/cloudwatch/home?region=",
                    Aws.REGION,
                    "#dashboards:name=",
                    self.monitoring.dashboard.dashboard_name,
                ],
            ),
        )
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        group = self.release.deployment_group
        CfnOutput(
            self,
            "CodeDeployApplication",
            value=group.application.application_name,
            description="Where each release of a new version shows (aws deploy list-deployments)",
        )
        CfnOutput(self, "CodeDeployDeploymentGroup", value=group.deployment_group_name)
