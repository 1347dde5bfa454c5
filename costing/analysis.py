"""One run of the tool: every option priced, the break-evens, and the recommendation."""

from __future__ import annotations

from dataclasses import dataclass

from costing.breakeven import BreakEven, break_evens
from costing.model import Quote
from costing.options import quote_all
from costing.prices import Prices
from costing.recommend import recommend
from costing.workload import Workload


@dataclass(frozen=True)
class Analysis:
    workload: Workload
    prices: Prices
    quotes: tuple[Quote, ...]
    break_evens: tuple[BreakEven, ...]
    recommendation: tuple[str, ...]

    @property
    def cheapest(self) -> Quote:
        return min(self.quotes, key=lambda quote: quote.monthly_usd)


def analyse(workload: Workload, prices: Prices) -> Analysis:
    quotes = quote_all(workload, prices)
    crossings = break_evens(workload, prices)
    return Analysis(
        workload=workload,
        prices=prices,
        quotes=quotes,
        break_evens=crossings,
        recommendation=tuple(recommend(workload, prices, quotes, crossings)),
    )
