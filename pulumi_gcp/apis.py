"""The Google APIs the deployment needs, enabled by the program unless a central team does it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from options import children_of

import pulumi_gcp as gcp

# What each API is for; the function cannot build or serve without any of them.
SERVICES = {
    "cloudfunctions.googleapis.com": "the function itself",
    "cloudbuild.googleapis.com": "building the function's image from the source zip",
    "run.googleapis.com": "the Cloud Run service that serves a 2nd gen function",
    "artifactregistry.googleapis.com": "the function's image repository (registry.py)",
    "storage.googleapis.com": "the source bucket",
    "logging.googleapis.com": "build and request logs",
    "monitoring.googleapis.com": "alert policies and the e-mail channel",
    "iam.googleapis.com": "the runtime and build service accounts",
    "cloudresourcemanager.googleapis.com": "project-level IAM grants",
}


@dataclass(frozen=True)
class ApisArgs:
    project: str
    enabled: bool


class Apis(pulumi.ComponentResource):
    """`services`: the gcp.projects.Service resources (empty when `enabled` is false); pass them
    as `depends_on` so nothing is created before its API answers."""

    def __init__(self, name: str, args: ApisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sklearn-inference:gcp:Apis", name, None, opts)
        self.services: list[gcp.projects.Service] = []
        if args.enabled:
            self.services = [
                gcp.projects.Service(
                    f"{name}-{service.split('.')[0]}",
                    project=args.project,
                    service=service,
                    # Other workloads in the project may use these APIs: never switch them off.
                    disable_on_destroy=False,
                    disable_dependent_services=False,
                    opts=children_of(self, opts),
                )
                for service in SERVICES
            ]
        self.register_outputs({"services": [s.service for s in self.services]})
