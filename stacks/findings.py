"""checkov findings a reviewer has accepted, written where checkov reads them: the resource's
template metadata (`Metadata.checkov.skip`). `make test` scans both environments' templates and
fails on any finding that is neither fixed nor skipped here, and on a skip nothing needs.

cdk-nag findings are acknowledged with `Validations.of(...).acknowledge` beside the resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnResource
from constructs import IConstruct

# Reasons shared by resources of one kind; resource-specific ones are written at the call.
LOG_GROUP_KMS = (
    "CloudWatch Logs encrypts every log group at rest by default. A customer-managed KMS key "
    "would add a key policy (which must admit the regional logs service) and a monthly key "
    "cost, for request metadata (route, status, latency, source IP) that holds no request "
    "bodies and no predictions."
)
ENVIRONMENT_KMS = (
    "The environment holds only non-secret settings (names, limits, levels); Lambda encrypts "
    "it at rest with an AWS-managed key, and a customer-managed key would protect no secret."
)
NO_NETWORK_CALLS = (
    "The function calls no service inside a network of ours, so a VPC would add ENIs, NAT or "
    "endpoint cost and cold-start time while protecting nothing; IAM decides who may invoke it."
)


def skip_checkov(construct: IConstruct, reasons: Mapping[str, str]) -> None:
    """Record checkov check IDs to skip on the construct's CloudFormation resource, each with
    the reason a reviewer accepted."""
    resource = construct.node.default_child if not isinstance(construct, CfnResource) else construct
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    existing: dict[str, Any] = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"] = [
        *existing["skip"],
        *({"id": check, "comment": reason} for check, reason in reasons.items()),
    ]
    resource.add_metadata("checkov", existing)
