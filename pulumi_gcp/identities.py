"""Dedicated runtime and build service accounts with the fewest roles that work.

Runtime: writes logs and metrics, nothing else (the model ships inside the image).
Build (Cloud Build, on behalf of Cloud Functions), per Google's custom build service account
guide and the Cloud Run Builder role (roles/run.builder: storage.objects.get,
artifactregistry upload/download, logging.logEntries.create):
- roles/logging.logWriter on the project: build logs.
- roles/artifactregistry.writer on the function's own repository only (registry.py), never on
  the project.
- roles/storage.objectViewer on the source bucket, and on the `gcf-v2-sources-*` buckets only
  (an IAM condition): Cloud Functions copies the zip there and the build's fetch step reads
  that copy ("Access to bucket gcf-v2-sources-... denied" otherwise).

IAM is eventually consistent: Google documents a grant as taking "typically 2 minutes,
potentially 7 minutes or longer" (cloud.google.com/iam/docs/access-change-propagation). The
provider's own test of this pattern waits 60 s and fails about half the time
(terraform-provider-google#20571). `ready` is a sleep of `propagation_seconds` (180 by default)
after every grant; the function waits on it. It runs again whenever an account or a grant is
replaced or added, so a grant added to a deployed stack is waited for too. No readiness probe
can do better from here: only a call made as the build account proves that Cloud Build sees the
grant, and impersonating it would need a token-creator grant of its own.

Monitoring service agent (`monitoring_agent`): Google's own account
`service-<project number>@gcp-sa-monitoring-notification.iam.gserviceaccount.com`, which private
uptime checks call as. The program makes sure it exists and learns its e-mail without a data
source (a ServiceIdentity of monitoring.googleapis.com); access.py grants it run.invoker.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumiverse_time as time
from options import children_of

import pulumi_gcp as gcp

RUNTIME_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
BUILD_PROJECT_ROLES = ("roles/logging.logWriter",)
SOURCE_COPY_CONDITION = 'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")'


def role_slug(role: str) -> str:
    """A role as part of a resource name: `roles/logging.logWriter` -> `logging-logWriter`."""
    return role.split("/")[1].replace(".", "-")


@dataclass(frozen=True)
class IdentitiesArgs:
    project: str
    function_name: str
    runtime_account_id: str
    build_account_id: str
    source_bucket: pulumi.Input[str]
    image_repository: pulumi.Input[str]  # projects/<p>/locations/<r>/repositories/<id>
    region: str
    propagation_seconds: int


class Identities(pulumi.ComponentResource):
    """Exposes `runtime` and `build` (service accounts), `ready` (wait on it) and
    `monitoring_agent` (a ServiceIdentity: its `member` is the uptime checks' caller)."""

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
                f"{name}-{who}-{role_slug(role)}",
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
        grants.append(
            gcp.artifactregistry.RepositoryIamMember(
                f"{name}-build-image-writer",
                project=args.project,
                location=args.region,
                repository=args.image_repository,
                role="roles/artifactregistry.writer",
                member=self.build.member,
                opts=child,
            )
        )
        self.grants = grants
        self.ready = time.Sleep(
            f"{name}-iam-propagation",
            create_duration=f"{args.propagation_seconds}s",
            # Replaced, so waited for again, whenever an account or any grant is new.
            triggers={
                "runtime": self.runtime.email,
                "build": self.build.email,
                "grants": pulumi.Output.all(*(grant.id for grant in grants)).apply(
                    lambda ids: ",".join(sorted(ids))
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*child.depends_on, *grants]),
        )
        self.monitoring_agent = gcp.projects.ServiceIdentity(
            f"{name}-monitoring-agent",
            project=args.project,
            service="monitoring.googleapis.com",
            opts=child,
        )
        self.register_outputs({"runtime": self.runtime.email, "build": self.build.email})
