"""Every physical name this app chooses, built in one place.

Only alarms get chosen names (so a page says which stack and what broke); everything else keeps
CloudFormation's generated names, so two stacks never collide in one account.
"""

from __future__ import annotations


def alarm_name(stack_name: str, concern: str) -> str:
    """`SklearnInference-prod-errors`: the stack, then a short kebab-case concern."""
    return f"{stack_name}-{concern}"
