"""Who may call the function: roles/run.invoker on its Cloud Run service.

A 2nd gen HTTP function checks run.invoker on the underlying Cloud Run service;
roles/cloudfunctions.invoker alone still gets 403s. A private function's uptime check (uptime.py)
calls as the Monitoring service agent, which gets the role too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from config import member_slug
from options import children_of

import pulumi_gcp as gcp

INVOKER_ROLE = "roles/run.invoker"
PUBLIC_MEMBER = "allUsers"


@dataclass(frozen=True)
class InvokersArgs:
    project: str
    region: str
    service_name: pulumi.Input[str]
    public: bool
    members: tuple[str, ...]
    # The Monitoring service agent's member: the uptime check calls as it when not public.
    uptime_checker: pulumi.Input[str] | None = None


class Invokers(pulumi.ComponentResource):
    """One ServiceIamMember per caller: `allUsers` when public, else each configured member and
    the uptime checker (`uptime_grant`, None when public). Members are added to the service's
    policy, never replacing bindings made elsewhere."""

    def __init__(self, name: str, args: InvokersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sklearn-inference:gcp:Invokers", name, None, opts)
        members = (PUBLIC_MEMBER,) if args.public else args.members
        self.bindings = [
            gcp.cloudrunv2.ServiceIamMember(
                f"{name}-{member_slug(member)}",
                project=args.project,
                location=args.region,
                name=args.service_name,
                role=INVOKER_ROLE,
                member=member,
                opts=children_of(self, opts),
            )
            for member in members
        ]
        self.uptime_grant = None
        if not args.public and args.uptime_checker is not None:
            self.uptime_grant = gcp.cloudrunv2.ServiceIamMember(
                f"{name}-uptime-check",
                project=args.project,
                location=args.region,
                name=args.service_name,
                role=INVOKER_ROLE,
                member=args.uptime_checker,
                opts=children_of(self, opts),
            )
        self.register_outputs({"members": list(members)})
