"""The stack's own Artifact Registry repository: where Cloud Build pushes its functions' images.

Without `build_config.docker_repository`, Cloud Functions pushes to the region's shared
`gcf-artifacts` repository, which it creates on the first deploy, so the build account needs
`roles/artifactregistry.writer` on the whole project. A repository the program creates lets
that grant name one repository (identities.py), and destroy deletes the images with it.
Cloud Functions requires the repository in the function's project and region, format DOCKER.

The stack's functions (one per model) share it: they build as the same build account, so one
repository each would widen nothing and narrow nothing; each function's images are packages of
their own (as in `gcf-artifacts`), and the cleanup policy applies per package. Nothing in it
depends on how many models there are, so adding one leaves it untouched.

Cleanup keeps what a rollback needs. A rollback moves traffic back to an existing revision
(release.py), and a revision names its image by digest. Google documents that Cloud Run keeps
its own copy of the image only while a revision serves ("Cloud Run keeps this copy while a
serving revision uses it", cloud.google.com/run/docs/deploying), so the revision a rollback
returns to, which serves nothing, must still find its image here to start. That revision is the
one that served before the current one: between the two lie only the builds of releases that
were rejected. The policy keeps the KEEP_RECENT newest versions of each package (the function's
image and its build cache) whatever their age, and deletes others once older than
IMAGE_RETENTION; when a version matches both, Artifact Registry's KEEP wins. So a rollback
target survives any number of days and up to KEEP_RECENT - 2 rejected releases in a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from options import children_of

import pulumi_gcp as gcp

KEEP_RECENT = 10
IMAGE_RETENTION = "30d"


@dataclass(frozen=True)
class RegistryArgs:
    project: str
    region: str
    repository_id: str
    protect: bool


class Registry(pulumi.ComponentResource):
    """Exposes `repository`; its `id` (projects/<p>/locations/<r>/repositories/<id>) is what
    `build_config.docker_repository` takes, its `name` what a RepositoryIamMember takes."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sklearn-inference:gcp:Registry", name, None, opts)
        self.repository = gcp.artifactregistry.Repository(
            f"{name}-images",
            project=args.project,
            location=args.region,
            repository_id=args.repository_id,
            format="DOCKER",
            description="Images Cloud Build builds for the inference functions (one per model).",
            labels={"app": "sklearn-inference"},
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=KEEP_RECENT
                    ),
                ),
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-old",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="ANY", older_than=IMAGE_RETENTION
                    ),
                ),
            ],
            opts=children_of(self, opts, protect=args.protect),
        )
        self.register_outputs({"repository": self.repository.id})
