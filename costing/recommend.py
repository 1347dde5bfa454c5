"""The recommendation under the table, written from the numbers of this run."""

from __future__ import annotations

import math
from dataclasses import replace

from costing import fmt
from costing.aws_lambda import provisioned_share
from costing.breakeven import SEARCH_MAX_RPS, SEARCH_MIN_RPS, BreakEven
from costing.cloud_functions import busy_instances
from costing.model import Option, Quote
from costing.options import OPTIONS
from costing.prices import Prices
from costing.workload import Workload

ALWAYS_ON = ("fargate", "kubernetes")
GATEWAY_SHARE_WORTH_NOTING = 0.4


def recommend(
    workload: Workload,
    prices: Prices,
    quotes: tuple[Quote, ...],
    crossings: tuple[BreakEven, ...],
) -> list[str]:
    return [
        *_cheapest(quotes),
        *(_crossing(workload, crossing) for crossing in crossings),
        *_gateway_share(quotes),
        *_latency(workload, prices, quotes),
    ]


def _cheapest(quotes: tuple[Quote, ...]) -> list[str]:
    ranked = sorted(quotes, key=lambda quote: quote.monthly_usd)
    best, runner_up = ranked[0], ranked[1]
    gap = runner_up.monthly_usd - best.monthly_usd
    if gap < 0.005:
        comparison = f"the same as {runner_up.option} to the cent"
    else:
        share = f" ({gap / runner_up.monthly_usd:.0%})" if best.monthly_usd > 0 else ""
        comparison = (
            f"{fmt.money(gap)}{share} less than the next cheapest, {runner_up.option} "
            f"({fmt.money(runner_up.monthly_usd)})"
        )
    lines = [
        f"Cheapest for this workload: {best.option} at {fmt.money(best.monthly_usd)} a month, "
        f"{comparison}."
    ]
    lines.extend(
        f"But {best.option}: {text.removeprefix('warning: ')}."
        for text in best.assumptions
        if text.startswith("warning: ")
    )
    if best.cloud != "aws":
        aws_best = next(quote for quote in ranked if quote.cloud == "aws")
        lines.append(
            f"{best.option} runs on Google Cloud; on AWS alone the cheapest is {aws_best.option} "
            f"at {fmt.money(aws_best.monthly_usd)} "
            f"({fmt.money(aws_best.monthly_usd - best.monthly_usd)} more)."
        )
    return lines


def _crossing(workload: Workload, crossing: BreakEven) -> str:
    versus = crossing.versus
    searched = f"between {fmt.num(SEARCH_MIN_RPS)} and {fmt.num(SEARCH_MAX_RPS)} req/s"
    if crossing.rps is None:
        if crossing.cheaper_throughout == versus:
            return (
                f"{crossing.option} never costs less than {versus} {searched} for this request "
                "shape."
            )
        return f"{crossing.option} costs less than {versus} at every rate {searched}."
    at = f"{fmt.num(crossing.rps)} req/s ({fmt.count(crossing.req_per_day or 0)} req/day)"
    side = "above" if workload.rps > crossing.rps else "below"
    where = f"this workload, at {fmt.num(workload.rps)} req/s, is {side} it."
    if crossing.cheaper_above != crossing.option:
        return f"{crossing.option} costs less than {versus} only below {at}; {where}"
    if crossing.option == "lambda_provisioned":
        n = workload.provisioned_concurrency
        concurrency = crossing.rps * workload.duration_s
        return (
            f"Provisioned concurrency ({n}) pays for itself above {at}, a mean concurrency of "
            f"{fmt.num(concurrency)} ({concurrency / n:.0%} of the {n} kept warm); {where}"
        )
    return f"{crossing.option} costs less than {versus} above {at}; {where}"


def _gateway_share(quotes: tuple[Quote, ...]) -> list[str]:
    """Say so when the HTTP API, not Lambda itself, is most of the serverless bill."""
    on_demand = _quote(quotes, "lambda_on_demand")
    gateway = on_demand.breakdown["gateway"]
    total = on_demand.monthly_usd
    if total <= 0 or gateway / total < GATEWAY_SHARE_WORTH_NOTING:
        return []
    return [
        f"The HTTP API is {gateway / total:.0%} of lambda_on_demand's bill ({fmt.money(gateway)} "
        f"of {fmt.money(total)}). A Lambda function URL has no per-request charge, but none of "
        "the HTTP API's throttling, routing or authorizers."
    ]


def _latency(workload: Workload, prices: Prices, quotes: tuple[Quote, ...]) -> list[str]:
    concurrency = workload.mean_concurrency
    if workload.rps == 0:
        lines = [
            "Latency: at zero traffic nothing on demand stays warm; the first request starts cold."
        ]
    else:
        lines = [
            f"Latency: lambda_on_demand keeps about {fmt.num(concurrency)} environments busy on "
            "average; each new one (after idling, or to scale out) starts cold."
        ]
    n = workload.provisioned_concurrency
    share = provisioned_share(workload)
    if share >= 1:
        lines.append(
            f"{fmt.plural(n, 'provisioned environment')} cover the mean concurrency of "
            f"{fmt.num(concurrency)}: requests start cold only in bursts above {n} at once."
        )
    else:
        needed = math.ceil(concurrency)
        covered = replace(workload, provisioned_concurrency=needed)
        cost = _option("lambda_provisioned").monthly_usd(covered, prices)
        lines.append(
            f"{fmt.plural(n, 'provisioned environment')} serve {share:.0%} of requests (mean "
            f"concurrency {fmt.num(concurrency)}); the other {1 - share:.0%} run on on-demand "
            f"environments that can start cold. Covering the mean takes {needed}, for "
            f"{fmt.money(cost)} a month."
        )
    lines.append(_min_instances(workload, prices, quotes))
    at_zero = workload.at_rate(0.0)
    idle_costs = " and ".join(
        f"{name} {fmt.money(_option(name).monthly_usd(at_zero, prices))}" for name in ALWAYS_ON
    )
    lines.append(
        "Containers have no cold start per request, but they cost money at zero traffic "
        f"({idle_costs} a month) and add capacity in minutes, not milliseconds."
    )
    return lines


def _min_instances(workload: Workload, prices: Prices, quotes: tuple[Quote, ...]) -> str:
    m = workload.min_instances
    busy = busy_instances(workload, prices)
    idle = _quote(quotes, "cloud_functions").breakdown["idle"]
    if m == 0:
        return (
            "cloud_functions with min instances 0 scales to zero: the first request after idling "
            "and every scale-out start cold."
        )
    warm = fmt.plural(m, "warm minimum instance")
    if busy <= m:
        return (
            f"cloud_functions keeps {warm} for {fmt.num(busy)} busy on average: cold starts only "
            f"in bursts above {m}; the warm minimum costs {fmt.money(idle)} a month at the idle "
            "rate."
        )
    return (
        f"cloud_functions keeps {warm} for {fmt.num(busy)} busy on average ({m / busy:.0%}); "
        "instances added beyond them start cold."
    )


def _quote(quotes: tuple[Quote, ...], name: str) -> Quote:
    return next(quote for quote in quotes if quote.option == name)


def _option(name: str) -> Option:
    return next(option for option in OPTIONS if option.name == name)
