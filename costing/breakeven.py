"""Where lambda_on_demand's monthly cost equals each other option's, solved on the cost curves.

Every cost here is piecewise linear in the request rate, and the container options also rise in
steps (one more task or node). The solver brackets the first sign change of the difference of two
curves on a fine geometric grid (1% apart), then bisects that bracket to machine precision.

A step can hide a crossing between two grid points: just below a step the difference peaks, then
drops. So for a stepped option, each grid interval also gets the first and last step boundary
inside it, evaluated at the boundary itself (the last rate before the jump). Where the other
curve is linear across the interval, the difference just below the steps is linear in the step
index, so one of those two boundaries shows any such window.

On-demand Lambda has no steps and the container options only step up, so a crossing from
"on-demand cheaper" to "option cheaper" is always a point where the two costs are equal.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from costing.model import Option
from costing.options import BASELINE, OPTIONS
from costing.prices import Prices
from costing.workload import SECONDS_PER_DAY, Workload

SEARCH_MIN_RPS = 1e-4  # about 9 requests a day
SEARCH_MAX_RPS = 1e6
GRID_RATIO = 1.01


@dataclass(frozen=True)
class BreakEven:
    """Where `option` and `versus` cost the same, or which is cheaper if they never do."""

    option: str
    versus: str
    rps: float | None
    cheaper_above: str | None
    cheaper_throughout: str | None
    monthly_usd: float | None

    @property
    def crosses(self) -> bool:
        return self.rps is not None

    @property
    def req_per_day(self) -> float | None:
        return None if self.rps is None else self.rps * SECONDS_PER_DAY


def break_even(option: Option, versus: Option, workload: Workload, prices: Prices) -> BreakEven:
    """The lowest rate in the search range at which the cheaper of the two changes."""

    def difference(rps: float) -> float:
        at_rate = workload.at_rate(rps)
        return option.monthly_usd(at_rate, prices) - versus.monthly_usd(at_rate, prices)

    step = option.step_width(workload, prices) or versus.step_width(workload, prices)
    found = first_sign_change(difference, search_points(step))
    if found is None:
        option_dearer = difference(SEARCH_MIN_RPS) > 0
        cheaper = versus.name if option_dearer else option.name
        return BreakEven(option.name, versus.name, None, None, cheaper, None)
    rps, option_dearer_below = found
    cheaper_above = option.name if option_dearer_below else versus.name
    cost = versus.monthly_usd(workload.at_rate(rps), prices)
    return BreakEven(option.name, versus.name, rps, cheaper_above, None, cost)


def break_evens(workload: Workload, prices: Prices) -> tuple[BreakEven, ...]:
    """Each option against on-demand Lambda, for this workload's request shape."""
    return tuple(
        break_even(option, BASELINE, workload, prices) for option in OPTIONS if option != BASELINE
    )


def search_points(step: float | None = None) -> list[float]:
    """The geometric grid over the search range, plus step boundaries that could hide a crossing."""
    count = math.ceil(math.log(SEARCH_MAX_RPS / SEARCH_MIN_RPS) / math.log(GRID_RATIO))
    grid = [SEARCH_MIN_RPS * GRID_RATIO**i for i in range(count)] + [SEARCH_MAX_RPS]
    if step is None:
        return grid
    points = set(grid)
    for low, high in itertools.pairwise(grid):
        first = (math.floor(low / step) + 1) * step
        last = (math.ceil(high / step) - 1) * step
        points.update(boundary for boundary in (first, last) if low < boundary < high)
    return sorted(points)


def first_sign_change(
    difference: Callable[[float], float], points: list[float]
) -> tuple[float, bool] | None:
    """The first rate where `difference > 0` flips, and whether it was positive before it."""
    positive_at_start = difference(points[0]) > 0
    previous = points[0]
    for point in points[1:]:
        if (difference(point) > 0) != positive_at_start:
            return bisect(difference, previous, point, positive_at_start), positive_at_start
        previous = point
    return None


def bisect(
    difference: Callable[[float], float], low: float, high: float, positive_at_low: bool
) -> float:
    """Narrow [low, high] around the flip of `difference > 0`, to machine precision."""
    while True:
        middle = (low + high) / 2
        if not low < middle < high or high - low <= 1e-13 * high:
            return middle
        if (difference(middle) > 0) == positive_at_low:
            low = middle
        else:
            high = middle
