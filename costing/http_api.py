"""API Gateway HTTP API in front of Lambda: requests metered per 512 KB, tiered per month."""

from __future__ import annotations

import math

from costing.prices import Prices, tiered_cost
from costing.workload import Workload


def metered_units_per_request(workload: Workload, prices: Prices) -> int:
    """A 1 KB request counts as one; a 600 KB request counts as two."""
    return math.ceil(workload.req_size_kb / prices.http_api.metering_increment_kb)


def gateway_usd(workload: Workload, prices: Prices) -> float:
    """Metered requests priced tier by tier; the new-account free tier is never applied."""
    units = workload.requests_per_month * metered_units_per_request(workload, prices)
    return tiered_cost(units, prices.http_api.request_tiers)


def gateway_assumptions(workload: Workload, prices: Prices) -> list[str]:
    units = metered_units_per_request(workload, prices)
    increment = prices.http_api.metering_increment_kb
    tiers = ", then ".join(
        f"${tier.usd:.2f}/M" + ("" if tier.up_to is None else f" up to {tier.up_to / 1e6:,.0f} M")
        for tier in prices.http_api.request_tiers_per_million
    )
    return [
        f"gateway: HTTP API metered per {increment:g} KB, so a {workload.req_size_kb:g} KB request "
        f"counts as {units}: {workload.requests_per_month * units / 1e6:,.2f} M metered requests "
        f"at {tiers}",
        "gateway: the HTTP API free tier (1 M calls a month for a new account's first 12 months) "
        "is never applied",
    ]
