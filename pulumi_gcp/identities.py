"""Dedicated runtime and build service accounts with the fewest roles that work.

Runtime: writes logs and metrics, nothing else (the model ships inside the image).
Build (Cloud Build, on behalf of Cloud Functions), per Google's custom build service account
guide and the Cloud Run Builder role (roles/run.builder: storage.objects.get,
artifactregistry upload/download, logging.logEntries.create):
- roles/logging.logWriter on the project: build logs.
- roles/artifactregistry.writer on the project: pushing the image to the `gcf-artifacts`
  repository, which Cloud Functions creates on first deploy (so it cannot be targeted sooner).
- roles/storage.objectViewer on the source bucket, and on the `gcf-v2-sources-*` buckets only
  (an IAM condition): Cloud Functions copies the zip there and the build's fetch step reads
  that copy ("Access to bucket gcf-v2-sources-... denied" otherwise).
IAM grants take up to a minute to reach Cloud Build; `ready` (a 60 s sleep after the grants,
as the provider's own build-service-account example does) is what the function waits for.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_time as time
from options import children_of

import pulumi_gcp as gcp

RUNTIME_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
BUILD_PROJECT_ROLES = ("roles/logging.logWriter", "roles/artifactregistry.writer")
SOURCE_COPY_CONDITION = 'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")'
IAM_PROPAGATION = "60s"


@dataclass(frozen=True)
class IdentitiesArgs:
    project: str
    function_name: str
    runtime_account_id: str
    build_account_id: str
    source_bucket: pulumi.Input[str]


class Identities(pulumi.ComponentResource):
    """Exposes `runtime` and `build` (service accounts) and `ready` (wait on it)."""

    def __init__(self, name: str, args: IdentitiesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sklearn-inference:gcp:Identities", name, None, opts)
        child = children_of(self, opts)

        self.runtime = gcp.serviceaccount.Account(
            f"{name}-runtime",
            project=args.project,
            account_id=args.runtime_account_id,
            display_name=f"{args.function_name} runtime",
            description="Serves the inference function: writes logs and metrics only.",
            opts=child,
        )
        self.build = gcp.serviceaccount.Account(
            f"{name}-build",
            project=args.project,
            account_id=args.build_account_id,
            display_name=f"{args.function_name} build",
            description="Cloud Build for the inference function: reads source, pushes image.",
            opts=child,
        )

        grants: list[pulumi.Resource] = [
            gcp.projects.IAMMember(
                f"{name}-{who}-{role.split('/')[1].replace('.', '-')}",
                project=args.project,
                role=role,
                member=member,
                opts=child,
            )
            for who, member, roles in (
                ("runtime", self.runtime.member, RUNTIME_ROLES),
                ("build", self.build.member, BUILD_PROJECT_ROLES),
            )
            for role in roles
        ]
        grants.append(
            gcp.storage.BucketIAMMember(
                f"{name}-build-source-reader",
                bucket=args.source_bucket,
                role="roles/storage.objectViewer",
                member=self.build.member,
                opts=child,
            )
        )
        grants.append(
            gcp.projects.IAMMember(
                f"{name}-build-source-copy-reader",
                project=args.project,
                role="roles/storage.objectViewer",
                member=self.build.member,
                condition=gcp.projects.IAMMemberConditionArgs(
                    title="gcf-v2-sources buckets only",
                    description="The copy of the function source that Cloud Build fetches.",
                    expression=SOURCE_COPY_CONDITION,
                ),
                opts=child,
            )
        )
        self.grants = grants
        self.ready = time.Sleep(
            f"{name}-iam-propagation",
            create_duration=IAM_PROPAGATION,
            # Wait again whenever an account is replaced (its grants are new then too).
            triggers={"runtime": self.runtime.email, "build": self.build.email},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*child.depends_on, *grants]),
        )
        self.register_outputs({"runtime": self.runtime.email, "build": self.build.email})
