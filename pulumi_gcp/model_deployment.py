"""One declared model's deployment: its source bundle, function, invokers, alert policies and
dashboard, on what the stack's models share. `__main__.py` builds one per model in models.toml.

Not a ComponentResource on purpose: a component's type and name become part of every child's
URN, and the primary model keeps the unprefixed names and URNs a stack of one model has always
had, however many models join it. `model.prefix` ("" for the primary, "<name>-" for the others,
config.model_configs) keeps the models' resource names apart instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from access import Invokers, InvokersArgs
from apis import Apis
from config import ModelConfig
from function import Function, FunctionArgs
from identities import Identities
from model_store import ModelStore
from monitoring import Monitoring, MonitoringArgs
from registry import Registry
from source_bundle import ArchiveArgs, SourceBundle

from handler.bundle import gcf_source_files
from handler.manifest import ManifestError
from handler.store import Pointer, deployment_environment


@dataclass(frozen=True)
class SharedResources:
    """What every model's deployment uses, created once per stack."""

    stack: str
    apis: Apis
    source: SourceBundle
    registry: Registry
    identities: Identities
    # The stack's e-mail channel (alertEmail), which every model's alert policies notify.
    alert_channel: pulumi.Input[str] | None
    # With a store model: the model store, and each store model's pointer as `pulumi up` read it.
    model_store: ModelStore | None = None
    pointers: Mapping[str, Pointer | None] = field(default_factory=dict)


class ModelDeployment:
    """Exposes `model`, `function`, `archive`, `monitoring` and `outputs` (what the stack
    exports for this model under `models.<name>`, and for the primary model at the top level)."""

    def __init__(self, model: ModelConfig, shared: SharedResources):
        cfg, prefix = model.settings, model.prefix
        after_apis = pulumi.ResourceOptions(depends_on=shared.apis.services)
        self.model = model

        # A store model is served from the store once a version is promoted; until then (a new
        # stack, or a model moving to the store) from its bundle, like any other.
        pointer = shared.pointers.get(model.name)
        store = shared.model_store if model.store and pointer is not None else None
        if model.store and store is None:
            pulumi.log.warn(
                f'model {model.name} (source = "store"): no version is promoted in the model '
                "store yet, so this deploy serves the artifacts of the checkout from its bundle; "
                f"make publish-model MODEL={model.name}, make promote, then deploy"
            )
        try:
            files = gcf_source_files(
                cfg.source_root, model.artifacts, source="store" if store else "image"
            )
        except (OSError, ManifestError) as error:
            raise pulumi.RunError(
                f"model {model.name} ({model.artifacts}): {error}; (re)train it with "
                f"`make train MODEL={model.name}`"
            ) from None
        self.archive = shared.source.add_archive(
            prefix,
            ArchiveArgs(
                function_name=cfg.function_name,
                files=files,
                build_dir=cfg.source_root / "build" / "gcf",
                pinned_object=cfg.source_object,
                pin_key=model.pin_key,
            ),
        )
        runtime_account: pulumi.Input[str] = shared.identities.runtime.email
        environment = dict(cfg.handler_environment)
        ready: list[pulumi.Resource] = [shared.identities.ready]
        if store is not None and pointer is not None:
            # Its own account, reading its own prefix; the pointer `pulumi up` read, pinned:
            # a promotion is a new revision, released like any change (handler/store.py).
            reader = store.add_reader(prefix, model.name, cfg.function_name)
            runtime_account, ready = reader.account.email, [*ready, reader.ready]
            environment.update(deployment_environment(store.uri(model.name), pointer))
        self.function = Function(
            f"{prefix}inference",
            FunctionArgs(
                project=cfg.project,
                region=cfg.region,
                function_name=cfg.function_name,
                source_bucket=shared.source.bucket.name,
                source_object=self.archive.served_object,
                runtime_service_account=runtime_account,
                build_service_account=shared.identities.build.id,
                docker_repository=shared.registry.repository.id,
                min_instances=cfg.min_instances,
                max_instances=cfg.max_instances,
                memory=cfg.memory,
                cpu=cfg.cpu,
                concurrency=cfg.concurrency,
                timeout_seconds=cfg.timeout_seconds,
                ingress=cfg.ingress,
                environment=environment,
                protect=cfg.deletion_protection,
                model=model.name,
            ),
            pulumi.ResourceOptions(depends_on=[*shared.apis.services, *ready]),
        )
        invokers = Invokers(
            f"{prefix}invokers",
            InvokersArgs(
                project=cfg.project,
                region=cfg.region,
                service_name=self.function.service_name,
                public=cfg.public,
                members=cfg.invokers,
                uptime_checker=shared.identities.monitoring_agent.member,
            ),
            after_apis,
        )
        self.monitoring = Monitoring(
            f"{prefix}monitoring",
            MonitoringArgs(
                project=cfg.project,
                region=cfg.region,
                stack=shared.stack,
                function_name=cfg.function_name,
                max_instances=cfg.max_instances,
                concurrency=cfg.concurrency,
                server_errors=cfg.alert_server_errors,
                latency_p99_ms=cfg.alert_latency_p99_ms,
                model=model.name,
                service_uri=self.function.service_uri,
                public=cfg.public,
                channel=shared.alert_channel,
                uptime_after=(invokers.uptime_grant,) if invokers.uptime_grant else (),
            ),
            after_apis,
        )

        row = example_row(model.artifacts)
        self.outputs: dict[str, Any] = {
            "url": self.function.url,
            "curl": self.function.url.apply(lambda url: curl_command(url, cfg.public, row)),
            "function_name": self.function.function.name,
            "source_object": self.archive.served_object,
            "tree_source_object": self.archive.tree_object_name,
            "source_pinned": cfg.source_object is not None,
            "dashboard_url": self.monitoring.dashboard_url,
            "alert_policies": [policy.name for policy in self.monitoring.policies.values()],
            "uptime_check": self.monitoring.uptime.check.uptime_check_id,
            # What `make release-gcp` needs to drive this function's traffic (release.py).
            "release": {
                "project": cfg.project,
                "region": cfg.region,
                "service": cfg.function_name,
                "canary_percent": cfg.release_canary_percent,
                "canary_minutes": cfg.release_canary_minutes,
                "latency_p99_ms": cfg.alert_latency_p99_ms,
            },
        }
        if store is not None and pointer is not None:
            self.outputs["model_store"] = store.uri(model.name)
            self.outputs["model_version"] = pointer.version


def example_row(artifacts: Path) -> list[float] | None:
    """The features of the model's first reference case (reference.json, written by training),
    a row the model is known to answer; None when the model has no reference file."""
    try:
        reference = json.loads((artifacts / "reference.json").read_text())
        return [float(value) for value in reference["cases"][0]["features"]]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def curl_command(url: str, public: bool, row: list[float] | None) -> str:
    """A ready-made prediction request (or, without a row to send, a health check)."""
    auth = "" if public else ' -H "Authorization: Bearer $(gcloud auth print-identity-token)"'
    if row is None:
        return f"curl -sS {url}/health{auth}"
    body = json.dumps({"features": row})
    return f"curl -sS -X POST {url} -H 'Content-Type: application/json'{auth} -d '{body}'"
