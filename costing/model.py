"""The shape every priced option shares: line items, assumptions, and a monthly total."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from costing.prices import Prices
from costing.workload import Workload

LineItems = Callable[[Workload, Prices], dict[str, float]]
Assumptions = Callable[[Workload, Prices], list[str]]
StepWidth = Callable[[Workload, Prices], float | None]


def no_steps(workload: Workload, prices: Prices) -> float | None:
    return None


@dataclass(frozen=True)
class Quote:
    """One option priced for one workload."""

    option: str
    cloud: str
    breakdown: Mapping[str, float]
    assumptions: tuple[str, ...]

    @property
    def monthly_usd(self) -> float:
        return sum(self.breakdown.values())


@dataclass(frozen=True)
class Option:
    """A way to serve the model, as functions of the workload and the prices.

    `line_items` is the fast path (the break-even solver calls it thousands of times);
    `assumptions` spells out the sizing and arithmetic for the report. `step_width` is the rate
    at which a new task or node is added, for options whose cost rises in steps.
    """

    name: str
    cloud: str
    line_items: LineItems
    assumptions: Assumptions
    step_width: StepWidth = no_steps

    def monthly_usd(self, workload: Workload, prices: Prices) -> float:
        return sum(self.line_items(workload, prices).values())

    def quote(self, workload: Workload, prices: Prices) -> Quote:
        return Quote(
            option=self.name,
            cloud=self.cloud,
            breakdown=self.line_items(workload, prices),
            assumptions=tuple(self.assumptions(workload, prices)),
        )
