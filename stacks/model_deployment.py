"""Everything one model of models.toml gets on AWS, in one place: its image, function and `live`
alias, health check, alarms and dashboard rows, CodeDeploy release and outputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Aws, CfnOutput, Fn, Stack

from model.catalog import ModelEntry
from stacks.api import RouteTarget
from stacks.function import InferenceFunction, ModelImage
from stacks.health import InferenceHealthCheck
from stacks.model_store import StoreBinding
from stacks.monitoring import FunctionMetrics, MonitoredModel
from stacks.naming import ModelNames
from stacks.release import InferenceRelease
from stacks.settings import DeploySettings


class ModelDeployment:
    """One model's function and alias (built here), then its health check, release and outputs
    (`add_*`, called by the stack once the shared API and monitoring exist); its alarms and
    dashboard rows come from `monitored`.

    Not a Construct, on purpose: a construct adds its id to the construct path of everything
    below it, so the primary model's function, alias, alarms and release would all get new
    logical IDs, and CloudFormation would replace them on the next deploy of a stack that has
    served one model so far. Instead its constructs live where they always have, unprefixed for
    the primary model (`Inference`, `Release`) and prefixed with the model's title for any
    other (`WineInference`, `WineRelease`).
    """

    def __init__(
        self,
        stack: Stack,
        *,
        entry: ModelEntry,
        settings: DeploySettings,
        names: ModelNames,
        others: Sequence[ModelEntry] = (),
        reference_file: Path | None = None,
        store: StoreBinding | None = None,
    ) -> None:
        self.stack, self.settings, self.names, self.name = stack, settings, names, entry.name
        self.reference_file = reference_file or entry.artifacts / "reference.json"
        self.store = store
        self.inference = InferenceFunction(
            stack,
            names.id("Inference"),
            settings=settings,
            image=ModelImage(
                context=entry.root,
                model_path=entry.path,
                others=tuple(other.path for other in others),
                source="store" if store is not None else "image",
            ),
            names=names,
            store=store,
        )
        self.release: InferenceRelease | None = None

    @property
    def route(self) -> RouteTarget:
        return RouteTarget(self.names.route_prefix, self.inference.alias)

    @property
    def monitored(self) -> MonitoredModel:
        metrics = FunctionMetrics.of(
            function=self.inference.function, alias=self.inference.alias, settings=self.settings
        )
        return MonitoredModel(
            self.name, self.names, self.settings, metrics, self.inference.log_group
        )

    def add_health_check(self) -> None:
        if self.settings.health_check_minutes:
            InferenceHealthCheck(
                self.stack,
                self.names.id("HealthCheck"),
                settings=self.settings,
                alias=self.inference.alias,
                names=self.names,
            )

    def add_release(self) -> None:
        self.release = InferenceRelease(
            self.stack,
            self.names.id("Release"),
            settings=self.settings,
            function=self.inference.function,
            alias=self.inference.alias,
            reference_file=self.reference_file,
            names=self.names,
            store=self.store,
        )

    def add_function_outputs(self, api_url: str, auth: str) -> None:
        """PredictCommand, FunctionName, FunctionLogGroup, AliasArn, and for a store model
        ModelStore (`Wine...` for a model other than the primary one)."""
        output = self.names.id
        CfnOutput(
            self.stack,
            output("PredictCommand"),
            value=Fn.join("", _predict_command(auth, api_url, self.route.prefix, self.sample_body)),
            description=self.names.label("A prediction request to paste into a shell"),
        )
        CfnOutput(self.stack, output("FunctionName"), value=self.inference.function.function_name)
        CfnOutput(
            self.stack,
            output("FunctionLogGroup"),
            value=self.inference.log_group.log_group_name,
            description="Function logs, REPORT lines with Init Duration included",
        )
        CfnOutput(
            self.stack,
            output("AliasArn"),
            value=self.inference.alias.function_arn,
            description="The live alias (what the API invokes; use it for direct invokes too)",
        )
        if self.store is not None:
            CfnOutput(
                self.stack,
                output("ModelStore"),
                value=self.store.uri,
                description=self.names.label(
                    "Where its versions and pointer live (make publish-model / make promote)"
                ),
            )

    def add_release_outputs(self) -> None:
        assert self.release is not None, "add_release first"
        group = self.release.deployment_group
        CfnOutput(
            self.stack,
            self.names.id("CodeDeployApplication"),
            value=group.application.application_name,
            description="Where each release of a new version shows (aws deploy list-deployments)",
        )
        CfnOutput(
            self.stack,
            self.names.id("CodeDeployDeploymentGroup"),
            value=group.deployment_group_name,
        )

    @property
    def sample_body(self) -> str:
        """The model's first reference case, a request it is known to answer
        (`{"features": [...]}` when it has no reference yet)."""
        try:
            case = json.loads(self.reference_file.read_text())["cases"][0]["features"]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return '{"features": [...]}'
        return json.dumps({"features": case})


def _predict_command(auth: str, url: str, prefix: str, body: str) -> list[str]:
    """curl signs SigV4 itself (7.75+); the session token header is for temporary credentials."""
    credentials = {
        "none": "",
        "jwt": '-H "authorization: Bearer $TOKEN" ',
        "iam": '--aws-sigv4 "aws:amz:'
        + Aws.REGION
        + ':execute-api" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" '
        '-H "x-amz-security-token: $AWS_SESSION_TOKEN" ',
    }[auth]
    # The URL ends with "/": the route goes after it without its leading slash.
    path = prefix.lstrip("/") + "/predict" if prefix else "predict"
    return [
        "curl -sS " + credentials + "-X POST ",
        url,
        path + " -H 'content-type: application/json' -d '" + body + "'",
    ]
