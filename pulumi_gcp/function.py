"""The 2nd gen Cloud Function serving the shared handler (root main.py, entry point `predict`).

Traffic belongs to the release tool (release.py), not to this program. A 2nd gen function is
served by the Cloud Run service of the same name, and Google documents traffic splitting and
rollback for it on that service ("Traffic splitting", Cloud Functions docs). So:

- `all_traffic_on_latest_revision=False`: a deploy creates a revision and honours the service's
  traffic as it stands. The release tool keeps that traffic on revisions named one by one (never
  LATEST): the provider documents that a LATEST route would hand the new revision all traffic
  anyway. A new revision therefore serves nothing until the release tool has judged it, and a
  later `pulumi up` neither resets a split, a canary or a rollback, nor fails on one.
- No `ignore_changes` on it. Cloud Functions reports the field as true whenever the newest
  revision serves 100% (the state after every good release); `pulumi up --refresh` copies that
  into the stored inputs (the bridge refreshes inputs from outputs), and an ignored field is then
  sent as that stored true with the next source change: the new revision would take all traffic
  unjudged. Declared false, the first refresh after a release shows `true => false` and
  redeploys the service once: a revision identical to the one serving, which gets no traffic
  because traffic is pinned by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from options import children_of

import pulumi_gcp as gcp

RUNTIME = "python312"
ENTRY_POINT = "predict"


@dataclass(frozen=True)
class FunctionArgs:
    project: str
    region: str
    function_name: str
    source_bucket: pulumi.Input[str]
    source_object: pulumi.Input[str]
    runtime_service_account: pulumi.Input[str]  # e-mail
    build_service_account: pulumi.Input[str]  # projects/<p>/serviceAccounts/<e-mail>
    docker_repository: pulumi.Input[str]  # projects/<p>/locations/<r>/repositories/<id>
    min_instances: int
    max_instances: int
    memory: str
    cpu: str
    concurrency: int
    timeout_seconds: int
    ingress: str
    environment: Mapping[str, str]
    protect: bool
    model: str  # the model it serves: labels the function with it


class Function(pulumi.ComponentResource):
    """Exposes `function`, `url`, `service_name` (the Cloud Run service behind it) and
    `service_uri` (that service's own https://...run.app URL)."""

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sklearn-inference:gcp:Function", name, None, opts)
        self.function = gcp.cloudfunctionsv2.Function(
            f"{name}-function",
            project=args.project,
            location=args.region,
            name=args.function_name,
            description="scikit-learn inference (shared handler, ONNX Runtime)",
            labels={"app": "sklearn-inference", "model": args.model},
            build_config=gcp.cloudfunctionsv2.FunctionBuildConfigArgs(
                runtime=RUNTIME,
                entry_point=ENTRY_POINT,
                source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceArgs(
                    storage_source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=args.source_bucket,
                        object=args.source_object,
                    )
                ),
                service_account=args.build_service_account,
                docker_repository=args.docker_repository,
            ),
            service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
                min_instance_count=args.min_instances,
                max_instance_count=args.max_instances,
                available_memory=args.memory,
                available_cpu=args.cpu,
                max_instance_request_concurrency=args.concurrency,
                timeout_seconds=args.timeout_seconds,
                ingress_settings=args.ingress,
                service_account_email=args.runtime_service_account,
                environment_variables=dict(args.environment),
                all_traffic_on_latest_revision=False,
            ),
            opts=children_of(self, opts, protect=args.protect),
        )
        self.url = self.function.url
        # A 2nd gen function's Cloud Run service carries the function's name.
        self.service_name = self.function.name
        self.service_uri = self.function.service_config.apply(
            lambda config: (config.uri if config is not None else None) or ""
        )
        self.register_outputs({"url": self.url, "name": self.function.name})
