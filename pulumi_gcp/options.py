"""Resource options for a component's children."""

from __future__ import annotations

import pulumi


def children_of(component: pulumi.ComponentResource, opts: pulumi.ResourceOptions | None):
    """`parent=component` plus the component's own `depends_on`.

    Pulumi does not hand a component's depends_on to its children: a function waiting on a
    component would still be created before the IAM grants and APIs it needs. Pass them down.
    """
    depends_on = opts.depends_on if opts is not None and opts.depends_on is not None else []
    if not isinstance(depends_on, list):
        depends_on = [depends_on]
    return pulumi.ResourceOptions(parent=component, depends_on=list(depends_on))
