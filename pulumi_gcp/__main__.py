"""Serve the shared handler as a 2nd gen Cloud Function: compose the components, export outputs.

Pulumi runs this file with pulumi_gcp/ as the working directory and sys.path[0]. This folder
must stay a plain program directory (no __init__.py): a regular package named pulumi_gcp would
shadow the pulumi_gcp SDK wherever the repository root is on sys.path.
"""

from __future__ import annotations

import sys
from pathlib import Path

# handler.bundle (the archive's file list) lives at the repository root, which Pulumi does not
# put on sys.path. Insert it after this folder so program modules still resolve first.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(1, str(REPO_ROOT))

import pulumi  # noqa: E402
from access import Invokers, InvokersArgs  # noqa: E402
from apis import Apis, ApisArgs  # noqa: E402
from config import load  # noqa: E402
from function import Function, FunctionArgs  # noqa: E402
from identities import Identities, IdentitiesArgs  # noqa: E402
from monitoring import Monitoring, MonitoringArgs  # noqa: E402
from registry import Registry, RegistryArgs  # noqa: E402
from source_bundle import SourceBundle, SourceBundleArgs  # noqa: E402

from handler.bundle import gcf_source_files  # noqa: E402

cfg = load(pulumi.get_stack(), pulumi.Config(), pulumi.Config("gcp"))

apis = Apis("apis", ApisArgs(project=cfg.project, enabled=cfg.enable_apis))
after_apis = pulumi.ResourceOptions(depends_on=apis.services)

source = SourceBundle(
    "source",
    SourceBundleArgs(
        project=cfg.project,
        region=cfg.region,
        function_name=cfg.function_name,
        files=gcf_source_files(cfg.source_root),
        build_dir=cfg.source_root / "build" / "gcf",
        retention_days=cfg.bundle_retention_days,
        protect=cfg.deletion_protection,
        pinned_object=cfg.source_object,
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
function = Function(
    "inference",
    FunctionArgs(
        project=cfg.project,
        region=cfg.region,
        function_name=cfg.function_name,
        source_bucket=source.bucket.name,
        source_object=source.served_object,
        runtime_service_account=identities.runtime.email,
        build_service_account=identities.build.id,
        docker_repository=registry.repository.id,
        min_instances=cfg.min_instances,
        max_instances=cfg.max_instances,
        memory=cfg.memory,
        cpu=cfg.cpu,
        concurrency=cfg.concurrency,
        timeout_seconds=cfg.timeout_seconds,
        ingress=cfg.ingress,
        environment=cfg.handler_environment,
        protect=cfg.deletion_protection,
    ),
    pulumi.ResourceOptions(depends_on=[*apis.services, identities.ready]),
)
Invokers(
    "invokers",
    InvokersArgs(
        project=cfg.project,
        region=cfg.region,
        service_name=function.service_name,
        public=cfg.public,
        members=cfg.invokers,
    ),
    after_apis,
)
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        project=cfg.project,
        region=cfg.region,
        stack=pulumi.get_stack(),
        function_name=cfg.function_name,
        max_instances=cfg.max_instances,
        concurrency=cfg.concurrency,
        server_errors=cfg.alert_server_errors,
        latency_p99_ms=cfg.alert_latency_p99_ms,
        alert_email=cfg.alert_email,
    ),
    after_apis,
)

pulumi.export("url", function.url)
pulumi.export(
    "curl",
    function.url.apply(
        lambda url: (
            f"curl -sS -X POST {url} -H 'Content-Type: application/json'"
            + (
                ""
                if cfg.public
                else ' -H "Authorization: Bearer $(gcloud auth print-identity-token)"'
            )
            + " -d '{\"features\": [5.1, 3.5, 1.4, 0.2]}'"
        )
    ),
)
pulumi.export("function_name", function.function.name)
pulumi.export("bucket_name", source.bucket.name)
pulumi.export("source_object", source.served_object)
pulumi.export("tree_source_object", source.tree_object_name)
pulumi.export("source_pinned", cfg.source_object is not None)
pulumi.export("runtime_service_account", identities.runtime.email)
pulumi.export("build_service_account", identities.build.email)
pulumi.export("public", cfg.public)
pulumi.export("dashboard_url", monitoring.dashboard_url)
pulumi.export("alert_policies", [policy.name for policy in monitoring.policies.values()])
