"""One environment's deployment of the models in models.toml: composes the constructs and emits
the outputs, nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Aws, CfnOutput, DefaultStackSynthesizer, Fn, Stack, Tags
from constructs import Construct

from handler.store import Pointer
from model.catalog import ModelEntry
from stacks.api import InferenceApi
from stacks.model_deployment import ModelDeployment
from stacks.model_store import ModelStore, StoreBinding
from stacks.monitoring import ApiMetrics, InferenceMonitoring
from stacks.naming import ModelNames
from stacks.settings import DeploySettings, SettingsError, for_model


class InferenceStack(Stack):
    """Per model (`ModelDeployment`): a container-image function and its `live` alias, health
    check, alarms and dashboard rows, and the CodeDeploy release of each new version. Shared:
    the HTTP API in front of them, the alarm topic and the dashboard.

    `references` replaces a model's golden reference (by model name; default its
    artifacts/reference.json), so tests can pin one that does not move with the model.

    A stack serving a store model (models.toml `source = "store"`) also has the model store
    bucket; `store_pointers` is what each store model's pointer named when the app was
    synthesized, the version its function pins. A store model with no pointer yet (None) is
    served from its image until one is promoted.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings,
        models: Sequence[ModelEntry],
        references: Mapping[str, Path] | None = None,
        store_pointers: Mapping[str, Pointer | None] | None = None,
        **kwargs: Any,
    ) -> None:
        if not models:
            raise SettingsError("no model to deploy: models.toml declares none")
        # Every model's settings are checked before anything is built.
        settings_of = {
            entry.name: for_model(settings, entry.name, entry.overrides(settings.env_name))
            for entry in models
        }
        _check_prebuilt_images(settings_of)
        super().__init__(
            scope,
            id,
            stack_name=settings.stack_name,
            description=f"scikit-learn inference: Lambda behind an HTTP API ({settings.env_name})",
            termination_protection=settings.termination_protection,
            # An environment with a bootstrap of its own (one account for dev and prod)
            **(
                {"synthesizer": DefaultStackSynthesizer(qualifier=settings.bootstrap_qualifier)}
                if settings.bootstrap_qualifier
                else {}
            ),
            **kwargs,
        )
        Tags.of(self).add("Project", "sklearn-serverless-inference")
        Tags.of(self).add("Environment", settings.env_name)
        for key, value in settings.tags.items():
            Tags.of(self).add(key, value)

        # Only a stack with a store model has a store: the templates of the others do not move.
        self.model_store = (
            ModelStore(self, "ModelStore", retain=settings.retain_model_store)
            if any(entry.store for entry in models)
            else None
        )

        def binding(entry: ModelEntry) -> StoreBinding | None:
            if self.model_store is None or not entry.store:
                return None
            pointer = (store_pointers or {}).get(entry.name)
            if pointer is None:
                # Nothing promoted yet (a new stack, or a model moving to the store): it keeps
                # serving its image until a version is, and the next deploy pins that one.
                Annotations.of(self).add_warning(
                    f'model {entry.name} (source = "store"): no version is promoted in the '
                    "model store yet, so this deploy serves the artifacts of the checkout from "
                    f"its image; `make publish-model MODEL={entry.name}`, `make promote`, then "
                    "deploy"
                )
                return None
            return StoreBinding(self.model_store, entry.name, pointer)

        # Creation order is the template's order: per model its function, then the API in
        # front of all of them, per model its health check, then the alarms and dashboard,
        # per model its release. Construct ids come from each model alone (ModelNames.of), so
        # adding or removing a model never changes another model's logical IDs.
        self.models = {
            entry.name: ModelDeployment(
                self,
                entry=entry,
                settings=settings_of[entry.name],
                names=ModelNames.of(entry),
                others=[other for other in models if other is not entry],
                reference_file=(references or {}).get(entry.name),
                store=binding(entry),
            )
            for entry in models
        }
        deployments = list(self.models.values())
        self.http = InferenceApi(
            self, "Http", settings=settings, targets=[model.route for model in deployments]
        )
        for model in deployments:
            model.add_health_check()
        self.monitoring = InferenceMonitoring(
            self,
            "Monitoring",
            settings=settings,
            api=ApiMetrics.of(self.http.api),
            models=[model.monitored for model in deployments],
        )
        for model in deployments:
            model.add_release()

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
        for model in deployments:
            model.add_function_outputs(self.http.url, settings.auth)
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
        for model in deployments:
            model.add_release_outputs()
        # What ops/ reads to find a model's routes, outputs and alarms (model/catalog.py's rule).
        CfnOutput(
            self,
            "Models",
            value=",".join(self.models),
            description="The models served: the primary one at /predict with unprefixed "
            "outputs, any other at /models/<name>/... with outputs <Name>...",
        )
        primary = next((entry.name for entry in models if entry.primary), None)
        if primary is not None:
            CfnOutput(self, "PrimaryModel", value=primary, description="Served at /predict")


def _check_prebuilt_images(settings_of: Mapping[str, DeploySettings]) -> None:
    """Each model's image holds that model: two models may not run one prebuilt image."""
    by_image: dict[tuple[str | None, str | None], list[str]] = {}
    for name, model in settings_of.items():
        if model.uses_prebuilt_image:
            image = (model.image_repository, model.image_digest or model.image_tag)
            by_image.setdefault(image, []).append(name)
    for (repository, reference), names in by_image.items():
        if len(names) > 1:
            raise SettingsError(
                f"models {', '.join(names)} would all run the prebuilt image "
                f"{repository}:{reference}, but each image holds one model: give each model its "
                "own image_tag or image_digest under [models.<name>] in models.toml"
            )
