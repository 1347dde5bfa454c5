"""Every physical name this app chooses, built in one place, and how one model's names differ
from another's when a stack serves several.

Only alarms get chosen names (so a page says which stack and what broke); everything else keeps
CloudFormation's generated names, so two stacks never collide in one account.
"""

from __future__ import annotations

from dataclasses import dataclass


def alarm_name(stack_name: str, concern: str) -> str:
    """`SklearnInference-prod-errors`: the stack, then a short kebab-case concern."""
    return f"{stack_name}-{concern}"


@dataclass(frozen=True)
class ModelNames:
    """How one model's construct ids, alarms, routes, outputs and titles are told apart.

    The only model of a stack keeps the names a stack had before it could serve several
    (`name` None): `Inference`, `<stack>-errors`, `/predict`, `FunctionName`. One of several
    carries its name: `WineInference`, `<stack>-wine-errors`, `/models/wine/predict`,
    `WineFunctionName`.
    """

    name: str | None = None

    @property
    def title(self) -> str:
        """Construct-id and output-name prefix (`wine` -> `Wine`, as model/catalog.py's title)."""
        return self.name.capitalize() if self.name else ""

    def id(self, base: str) -> str:
        return self.title + base

    def concern(self, concern: str) -> str:
        """What an alarm of this model watches, as its name says it: `errors`, `wine-errors`."""
        return f"{self.name}-{concern}" if self.name else concern

    @property
    def route_prefix(self) -> str:
        """Where the model's routes live on the shared API (the handler's ROUTE_PREFIX)."""
        return f"/models/{self.name}" if self.name else ""

    def label(self, text: str) -> str:
        """A title or description that says which model it is about."""
        return f"{self.name}: {text}" if self.name else text


# A stack's only model: today's names.
ONLY_MODEL = ModelNames()
