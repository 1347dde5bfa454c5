"""AWS Lambda behind an HTTP API: on demand, and with provisioned concurrency."""

from __future__ import annotations

import math

from costing import fmt
from costing.http_api import gateway_assumptions, gateway_usd
from costing.model import Option
from costing.prices import Prices, tiered_cost
from costing.workload import SECONDS_PER_MONTH, Workload

DEFAULT_ACCOUNT_CONCURRENCY = 1000  # Lambda's default regional concurrency quota


def billed_duration_ms(workload: Workload) -> int:
    """Lambda bills duration rounded up to the next millisecond."""
    return math.ceil(workload.duration_ms - 1e-9)


def gb_seconds_per_month(workload: Workload) -> float:
    return workload.requests_per_month * billed_duration_ms(workload) / 1000 * workload.mem_gb


def provisioned_share(workload: Workload) -> float:
    """Fraction of requests the warm pool serves: min(1, N / mean concurrency).

    Assumes traffic holds steady at its mean; bursts push more of it onto on-demand environments.
    """
    concurrency = workload.mean_concurrency
    if concurrency <= workload.provisioned_concurrency:
        return 1.0
    return workload.provisioned_concurrency / concurrency


def on_demand_line_items(workload: Workload, prices: Prices) -> dict[str, float]:
    lam = prices.lambda_
    requests = workload.requests_per_month
    gb_s = gb_seconds_per_month(workload)
    if workload.free_tier:
        requests = max(0.0, requests - lam.free_requests)
        gb_s = max(0.0, gb_s - lam.free_gb_s)
    return {
        "requests": requests * lam.request_usd_per_million / 1e6,
        "compute": tiered_cost(gb_s, lam.duration_tiers[workload.arch]),
        "gateway": gateway_usd(workload, prices),
    }


def provisioned_line_items(workload: Workload, prices: Prices) -> dict[str, float]:
    lam = prices.lambda_
    arch = workload.arch
    share = provisioned_share(workload)
    gb_s = gb_seconds_per_month(workload)
    always_on_gb_s = workload.provisioned_concurrency * workload.mem_gb * SECONDS_PER_MONTH
    return {
        "requests": workload.requests_per_month * lam.request_usd_per_million / 1e6,
        "provisioned": always_on_gb_s * lam.provisioned_usd_per_gb_s[arch],
        "compute": share * gb_s * lam.provisioned_duration_usd_per_gb_s[arch],
        "spillover": tiered_cost((1 - share) * gb_s, lam.duration_tiers[arch]),
        "gateway": gateway_usd(workload, prices),
    }


def on_demand_assumptions(workload: Workload, prices: Prices) -> list[str]:
    lam = prices.lambda_
    return [
        *_request_and_duration(workload, prices),
        (
            f"free tier applied: {lam.free_requests:,.0f} requests and {lam.free_gb_s:,.0f} GB-s "
            "a month (always free), taken off before the duration tiers"
            if workload.free_tier
            else "free tier not applied (--free-tier applies Lambda's always-free allowance)"
        ),
        *gateway_assumptions(workload, prices),
        *_quota_note(workload),
    ]


def provisioned_assumptions(workload: Workload, prices: Prices) -> list[str]:
    lam = prices.lambda_
    arch = workload.arch
    n = workload.provisioned_concurrency
    share = provisioned_share(workload)
    always_on_gb_s = n * workload.mem_gb * SECONDS_PER_MONTH
    return [
        *_request_and_duration(workload, prices),
        f"provisioned: {n} environments x {workload.mem_gb:g} GB x 730 h always on = "
        f"{always_on_gb_s:,.0f} GB-s at {fmt.rate(lam.provisioned_usd_per_gb_s[arch])}/GB-s",
        f"mean concurrency {fmt.num(workload.mean_concurrency)} ({fmt.num(workload.rps)} req/s x "
        f"{workload.duration_s:g} s): the warm pool serves min(1, {n} / "
        f"{fmt.num(workload.mean_concurrency)}) = {share:.1%} of requests at "
        f"{fmt.rate(lam.provisioned_duration_usd_per_gb_s[arch])}/GB-s (compute); the rest "
        "spill over to on-demand environments at the tiered on-demand price (spillover). Assumes "
        "steady traffic at the mean; bursts spill over sooner",
        "no free tier: AWS does not apply it to functions with provisioned concurrency",
        *gateway_assumptions(workload, prices),
        *_quota_note(workload),
    ]


def _request_and_duration(workload: Workload, prices: Prices) -> list[str]:
    tiers = prices.lambda_.duration_tiers[workload.arch]
    tier_text = ", then ".join(
        fmt.rate(tier.usd) + ("" if tier.up_to is None else f" up to {tier.up_to / 1e9:g} B")
        for tier in tiers
    )
    return [
        f"requests: {workload.requests_per_month:,.0f} a month ({fmt.num(workload.rps)} req/s x "
        f"{SECONDS_PER_MONTH:,} s in a 730-hour month) at "
        f"${prices.lambda_.request_usd_per_million:.2f}/M",
        f"duration billed per 1 ms: {billed_duration_ms(workload)} ms x {workload.mem_gb:g} GB x "
        f"requests = {gb_seconds_per_month(workload):,.0f} GB-s a month; {workload.arch} "
        f"on-demand price per GB-s tiered by monthly volume: {tier_text}",
    ]


def _quota_note(workload: Workload) -> list[str]:
    if workload.mean_concurrency <= DEFAULT_ACCOUNT_CONCURRENCY:
        return []
    return [
        f"mean concurrency {workload.mean_concurrency:,.0f} exceeds Lambda's default regional "
        f"quota of {DEFAULT_ACCOUNT_CONCURRENCY:,}: ask AWS to raise it"
    ]


LAMBDA_ON_DEMAND = Option(
    name="lambda_on_demand",
    cloud="aws",
    line_items=on_demand_line_items,
    assumptions=on_demand_assumptions,
)

LAMBDA_PROVISIONED = Option(
    name="lambda_provisioned",
    cloud="aws",
    line_items=provisioned_line_items,
    assumptions=provisioned_assumptions,
)
