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
import pulumi.runtime.config  # noqa: E402
from apis import Apis, ApisArgs  # noqa: E402
from config import ConfigError, load, model_configs  # noqa: E402
from identities import Identities, IdentitiesArgs  # noqa: E402
from model_deployment import ModelDeployment, SharedResources  # noqa: E402
from model_store import ModelStore, ModelStoreArgs, default_bucket_name, read_pointers  # noqa: E402
from monitoring import email_channel  # noqa: E402
from registry import Registry, RegistryArgs  # noqa: E402
from source_bundle import SourceBundle, SourceBundleArgs  # noqa: E402

from model import catalog  # noqa: E402

stack = pulumi.get_stack()
# Every key of the stack's config, to refuse those the program does not read. The Python
# language host hands the program its config in PULUMI_CONFIG and loads it with
# set_all_config (as the test mocks do); pulumi.Config has no way to list keys.
config_keys = {*pulumi.runtime.config.CONFIG.get(), *pulumi.runtime.get_config_env()}
try:
    cfg = load(stack, pulumi.Config(), pulumi.Config("gcp"), config_keys)
    models = model_configs(cfg, catalog.load(cfg.models_file).models, stack)
except (ConfigError, catalog.CatalogError) as error:
    # One line per problem and no traceback: the language host prints a RunError's message only.
    raise pulumi.RunError(str(error)) from None

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
channel = email_channel(cfg.project, cfg.alert_email, after_apis) if cfg.alert_email else None
# Store models (models.toml source = "store"): the stack's model store, and the pointers this
# deploy pins, read now (model_store.py).
stored = [model.name for model in models if model.store]
store_bucket = cfg.model_store_bucket or default_bucket_name(cfg.project, cfg.function_name)
model_store = (
    ModelStore(
        "model-store",
        ModelStoreArgs(
            project=cfg.project,
            region=cfg.region,
            bucket_name=store_bucket,
            function_name=cfg.function_name,
            retain=cfg.deletion_protection,
            propagation_seconds=cfg.iam_propagation_seconds,
        ),
        after_apis,
    )
    if stored
    else None
)
shared = SharedResources(
    stack=stack,
    apis=apis,
    source=source,
    registry=registry,
    identities=identities,
    alert_channel=channel.id if channel else None,
    model_store=model_store,
    pointers=read_pointers(store_bucket, stored) if stored else {},
)
deployments = [ModelDeployment(model, shared) for model in models]

# The primary model's outputs at the top level, where a stack of one model has always had them;
# every model's (the primary's too) under `models`, whatever their number.
for deployment in deployments:
    if deployment.model.primary:
        pulumi.export("primary_model", deployment.model.name)
        for key, value in deployment.outputs.items():
            pulumi.export(key, value)
pulumi.export("models", {d.model.name: d.outputs for d in deployments})
pulumi.export("bucket_name", source.bucket.name)
pulumi.export("runtime_service_account", identities.runtime.email)
pulumi.export("build_service_account", identities.build.email)
pulumi.export("public", cfg.public)
if model_store is not None:
    pulumi.export("model_store_bucket", model_store.bucket.name)
