"""Serve the shared handler as 2nd gen Cloud Functions, one per model in models.toml: compose
what the stack shares and one ModelDeployment per model (model_deployment.py), export outputs.

Pulumi runs this file with pulumi_gcp/ as the working directory and sys.path[0]. This folder
must stay a plain program directory (no __init__.py): a regular package named pulumi_gcp would
shadow the pulumi_gcp SDK wherever the repository root is on sys.path.
"""

from __future__ import annotations

import sys
from pathlib import Path

# handler.bundle (the archive's file list) and model.catalog (models.toml) live at the repository
# root, which Pulumi does not put on sys.path. Insert it after this folder so program modules
# still resolve first.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(1, str(REPO_ROOT))

import pulumi  # noqa: E402
from apis import Apis, ApisArgs  # noqa: E402
from config import load, model_configs  # noqa: E402
from identities import Identities, IdentitiesArgs  # noqa: E402
from model_deployment import ModelDeployment, SharedResources  # noqa: E402
from monitoring import email_channel  # noqa: E402
from registry import Registry, RegistryArgs  # noqa: E402
from source_bundle import SourceBundle, SourceBundleArgs  # noqa: E402

from model import catalog  # noqa: E402

stack = pulumi.get_stack()
cfg = load(stack, pulumi.Config(), pulumi.Config("gcp"))
models = model_configs(cfg, catalog.load(cfg.models_file).models, stack)
several = len(models) > 1

apis = Apis("apis", ApisArgs(project=cfg.project, enabled=cfg.enable_apis))
after_apis = pulumi.ResourceOptions(depends_on=apis.services)

source = SourceBundle(
    "source",
    SourceBundleArgs(
        project=cfg.project,
        region=cfg.region,
        function_name=cfg.function_name,
        retention_days=cfg.bundle_retention_days,
        protect=cfg.deletion_protection,
    ),
    after_apis,
)
registry = Registry(
    "registry",
    RegistryArgs(
        project=cfg.project,
        region=cfg.region,
        repository_id=cfg.function_name,
        protect=cfg.deletion_protection,
        functions=len(models),
    ),
    after_apis,
)
identities = Identities(
    "identities",
    IdentitiesArgs(
        project=cfg.project,
        function_name=cfg.function_name,
        runtime_account_id=cfg.account_ids["runtime"],
        build_account_id=cfg.account_ids["build"],
        source_bucket=source.bucket.name,
        image_repository=registry.repository.name,
        region=cfg.region,
        propagation_seconds=cfg.iam_propagation_seconds,
    ),
    after_apis,
)
# One model's Monitoring creates its own channel (today's resource); several share this one.
channel = (
    email_channel("alerts-email", cfg.project, cfg.alert_email, after_apis)
    if several and cfg.alert_email
    else None
)
shared = SharedResources(
    stack=stack,
    apis=apis,
    source=source,
    registry=registry,
    identities=identities,
    alert_channel=channel.id if channel else None,
    several=several,
)
deployments = {model.name: ModelDeployment(model, shared) for model in models}

if several:
    pulumi.export("models", {name: d.outputs for name, d in deployments.items()})
else:
    for key, value in next(iter(deployments.values())).outputs.items():
        pulumi.export(key, value)
pulumi.export("bucket_name", source.bucket.name)
pulumi.export("runtime_service_account", identities.runtime.email)
pulumi.export("build_service_account", identities.build.email)
pulumi.export("public", cfg.public)
