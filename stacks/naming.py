"""Every physical name this app chooses, built in one place, and how one model's names differ
from another's when a stack serves several (model/catalog.py states the rule: the model in
model/ is the stack's primary model and takes its own names; any other carries its name).

Only alarms get chosen names (so a page says which stack and what broke); everything else keeps
CloudFormation's generated names, so two stacks never collide in one account.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.catalog import ModelEntry


def alarm_name(stack_name: str, concern: str) -> str:
    """`SklearnInference-prod-errors`: the stack, then a short kebab-case concern."""
    return f"{stack_name}-{concern}"


@dataclass(frozen=True)
class ModelNames:
    """How one model's construct ids, alarms, routes, outputs and titles are told apart.

    The primary model (`name` None) has the stack's own names, the ones a stack had before it
    could serve several: `Inference`, `<stack>-errors`, `/predict`, `FunctionName`. Any other
    carries its name: `WineInference`, `<stack>-wine-errors`, `/models/wine/predict`,
    `WineFunctionName`. Which names a model gets never depends on the other models.
    """

    name: str | None = None

    @classmethod
    def of(cls, entry: ModelEntry) -> ModelNames:
        return PRIMARY if entry.primary else cls(entry.name)

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


# The stack's primary model (model/): the stack's own names.
PRIMARY = ModelNames()
