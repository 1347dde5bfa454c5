"""Resource options for a component's children."""

from __future__ import annotations

import pulumi


def children_of(
    component: pulumi.ComponentResource,
    opts: pulumi.ResourceOptions | None,
    *,
    protect: bool | None = None,
) -> pulumi.ResourceOptions:
    """`parent=component` plus the component's own `depends_on` (and `protect`, when given).

    Pulumi does not hand a component's depends_on to its children: a function waiting on a
    component would still be created before the IAM grants and APIs it needs. Pass them down.
    `protect=False` is explicit on purpose: it lifts the protection of a resource that had it.
    """
    depends_on = opts.depends_on if opts is not None and opts.depends_on is not None else []
    if not isinstance(depends_on, list):
        depends_on = [depends_on]
    return pulumi.ResourceOptions(parent=component, depends_on=list(depends_on), protect=protect)
