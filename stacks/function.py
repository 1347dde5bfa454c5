"""The container-image function, its `live` alias and the alias's provisioned concurrency."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, IgnoreMode, RemovalPolicy, Validations
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.findings import ENVIRONMENT_KMS, NO_NETWORK_CALLS, skip_checkov
from stacks.logs import log_group
from stacks.model_store import StoreBinding
from stacks.naming import PRIMARY, ModelNames
from stacks.settings import DeploySettings

# The build context is the repository root; its .dockerignore allow-lists handler/ and the
# models' artifacts/, which is all the image asset's hash depends on (besides the Dockerfile).
REPO_ROOT = Path(__file__).resolve().parent.parent
ALIAS_NAME = "live"
# The Dockerfile's default MODEL: the reference model's directory.
DEFAULT_MODEL_PATH = "model"

_ARCHITECTURES = {
    "arm64": (lambda_.Architecture.ARM_64, ecr_assets.Platform.LINUX_ARM64),
    "x86_64": (lambda_.Architecture.X86_64, ecr_assets.Platform.LINUX_AMD64),
}


@dataclass(frozen=True)
class ModelImage:
    """What the image is built from: the Docker build context (the directory holding
    models.toml; tests point it at a scratch copy), the model's directory in it (the
    Dockerfile's MODEL), and the other declared models' directories, left out of the build
    context so that only this model's artifacts move this image's hash."""

    context: Path = REPO_ROOT
    model_path: str = DEFAULT_MODEL_PATH
    others: tuple[str, ...] = ()
    source: str = "image"  # "store": the Dockerfile's MODEL_SOURCE, no artifacts in the image


class InferenceFunction(Construct):
    """`DockerImageFunction` plus the `live` alias every caller (API, alarms) goes through.

    Exposes `function`, `alias`, `log_group` and `role`. One of several models (`names`) is
    served under its ROUTE_PREFIX, `/models/<name>`. A store model (`store`) reads the version
    its binding pins from the stack's model store, and may read its own prefix there only.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        image: ModelImage = ModelImage(),
        names: ModelNames = PRIMARY,
        store: StoreBinding | None = None,
    ) -> None:
        super().__init__(scope, id)
        architecture, platform = _ARCHITECTURES[settings.architecture]

        self.log_group: logs.LogGroup = log_group(
            self,
            "Logs",
            retention_days=settings.log_retention_days,
            retain=settings.retain_logs,
        )
        # An explicit role instead of the default one: it may write to its own log group only,
        # where AWSLambdaBasicExecutionRole would allow every log group in the account.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=names.label(f"{settings.stack_name} inference function"),
        )
        self.log_group.grant_write(self.role)
        if store is not None:
            store.store.grant_model_read(self.role, store.model)
        environment = _handler_environment(settings, names)
        if store is not None:
            # The pin is part of the configuration: a promotion publishes a new version.
            environment.update(store.handler_environment())

        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            code=_image_code(self, settings, platform, image, names),
            architecture=architecture,
            memory_size=settings.memory_mb,
            timeout=Duration.seconds(settings.timeout_seconds),
            reserved_concurrent_executions=settings.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE if settings.tracing else lambda_.Tracing.DISABLED,
            log_group=self.log_group,
            role=self.role,
            # Every deploy that changes the image or configuration publishes a version; keep
            # the old ones so an operator can point `live` back at one in seconds, without a
            # rebuild (docs/operate.md, "Releasing on AWS"). CodeDeploy also needs the old version
            # to exist while it shifts traffic away from it.
            #
            # RetainExceptOnCreate, not Retain: a version whose own release rolls back is
            # deleted by the rollback. Under Retain it stayed behind as the newest version, with
            # exactly the code and configuration of the commit that failed; Lambda publishes
            # nothing when $LATEST equals the newest version, so redeploying that commit (a
            # flaky alarm, a fixed account quota) failed with "A version for this Lambda function
            # exists ( N ). Modify the function to create a new version." (aws/aws-cdk#28252 and
            # its kin). With the orphan gone, the retry publishes a fresh version and goes
            # through the same gates. Ordinary deploys are unchanged: the version's logical ID
            # still hashes the function's configuration (`current_version`), so a deploy that
            # changes neither image nor configuration (a threshold, a throttle) publishes
            # nothing and releases nothing, and a version that was released once is retained
            # when a later deploy replaces it.
            current_version_options=lambda_.VersionOptions(
                removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
            ),
            description=names.label(f"scikit-learn inference ({settings.env_name})"),
            environment=environment,
        )
        skip_checkov(
            self.function,
            {
                "CKV_AWS_116": "API Gateway invokes it synchronously: a failure is the caller's "
                "answer and nothing is retried. The only asynchronous caller is the health-check "
                "schedule, and a lost check is what the health-check alarm reports (missing data "
                "breaches); a dead-letter queue would hold nothing anyone acts on.",
                "CKV_AWS_117": (
                    "The model ships in the image. "
                    if store is None
                    else "It reads its model from the stack's S3 bucket through S3's endpoint. "
                )
                + NO_NETWORK_CALLS,
                "CKV_AWS_173": ENVIRONMENT_KMS,
            },
        )
        if settings.reserved_concurrency is None:
            skip_checkov(
                self.function,
                {
                    "CKV_AWS_115": "Unreserved on purpose in this environment (dev by default): "
                    "a reservation comes out of the account's unreserved pool, which new "
                    "accounts (quota 10) cannot spare at all, and the stage throttle bounds the "
                    "load instead. Prod reserves 20 (settings.reserved_concurrency).",
                },
            )
        if settings.tracing:
            Validations.of(self.role).acknowledge(
                # Written by CDK for Tracing.ACTIVE: xray:PutTraceSegments/PutTelemetryRecords
                # (and the sampling calls) have no resource-level permissions, so "*" is the
                # only resource IAM accepts for them.
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="X-Ray write actions do not support resource-level permissions; "
                    "the statement grants only xray:PutTraceSegments and xray:PutTelemetryRecords.",
                )
            )

        # Never alias $LATEST: provisioned concurrency needs a published version, and
        # `current_version` publishes a new one whenever the image or configuration changes.
        #
        # Provisioned concurrency has one owner. Without autoscaling the alias declares a fixed
        # amount. With autoscaling the alias declares none and the scalable target owns it:
        # registering the target sets the alias to autoscaling_min, and target tracking moves it
        # from there. Were the alias to declare an amount too, every deploy that moves `live` to
        # a new version would write that amount back over what the autoscaler had added.
        # When `live` moves to a new version, Lambda moves the alias's provisioned concurrency
        # with it (the amount the autoscaler last set), so a deploy neither resets nor loses it.
        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name=ALIAS_NAME,
            version=self.function.current_version,
            provisioned_concurrent_executions=settings.provisioned_concurrency or None,
            description="What the HTTP API invokes and the alarms watch",
        )
        if settings.autoscaling_min is not None and settings.autoscaling_max is not None:
            self.alias.add_auto_scaling(
                min_capacity=settings.autoscaling_min,
                max_capacity=settings.autoscaling_max,
            ).scale_on_utilization(utilization_target=settings.autoscaling_target)


def _handler_environment(settings: DeploySettings, names: ModelNames) -> dict[str, str]:
    """What handler/settings.py reads. MAX_BODY_BYTES only when set: unset, the handler derives
    the limit from the model's width and the row limit, which no constant here could track.
    ROUTE_PREFIX only for a model other than the primary one, which serves /predict itself."""
    environment = {
        "MODEL_BACKEND": settings.model_backend,
        "MAX_BATCH_ROWS": str(settings.max_batch_rows),
        "LOG_LEVEL": settings.log_level,
        "POWERTOOLS_SERVICE_NAME": settings.service_name,
        "POWERTOOLS_METRICS_NAMESPACE": settings.metrics_namespace,
    }
    if settings.max_body_bytes is not None:
        environment["MAX_BODY_BYTES"] = str(settings.max_body_bytes)
    if names.route_prefix:
        environment["ROUTE_PREFIX"] = names.route_prefix
    return environment


def _image_code(
    scope: Construct,
    settings: DeploySettings,
    platform: ecr_assets.Platform,
    image: ModelImage,
    names: ModelNames,
) -> lambda_.DockerImageCode:
    if settings.image_repository is not None:
        # Built elsewhere (CI): synth needs no Docker, deploy needs the image to exist in the
        # repository, in this account and region (or a repository policy that lets Lambda pull).
        if settings.image_repository.startswith("arn:"):
            repository = ecr.Repository.from_repository_arn(
                scope, "ImageRepository", settings.image_repository
            )
        else:
            repository = ecr.Repository.from_repository_name(
                scope, "ImageRepository", settings.image_repository
            )
        return lambda_.DockerImageCode.from_ecr(
            repository, tag_or_digest=settings.image_digest or settings.image_tag
        )
    # The Dockerfile's BASE_IMAGE: pin the Lambda base image by digest from the settings, since
    # `cdk deploy` builds the image itself (a new pin is a new image and version). MODEL only
    # for another model than the reference one: a build argument is part of the asset's hash.
    build_args = {"BASE_IMAGE": settings.base_image} if settings.base_image else {}
    if image.model_path != DEFAULT_MODEL_PATH:
        build_args["MODEL"] = image.model_path
    if image.source != "image":  # only a store model's build differs (and hashes differently)
        build_args["MODEL_SOURCE"] = image.source
    return lambda_.DockerImageCode.from_image_asset(
        str(image.context),
        file="Dockerfile",
        platform=platform,
        ignore_mode=IgnoreMode.DOCKER,
        # After .dockerignore's allow-list, which admits every model's artifacts.
        exclude=list(image.others) or None,
        display_name=names.label(f"{settings.stack_name} inference image"),
        build_args=build_args or None,
    )
