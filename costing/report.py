"""Render an analysis as text for people or as JSON for programs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from costing import fmt
from costing.analysis import Analysis
from costing.breakeven import SEARCH_MAX_RPS, SEARCH_MIN_RPS, BreakEven
from costing.workload import HOURS_PER_MONTH

WIDTH = 100
REPOSITORY = Path(__file__).resolve().parent.parent


def price_file_label(path: Path) -> str:
    """The price file as the repository names it, or as given when it lives elsewhere."""
    try:
        return str(path.resolve().relative_to(REPOSITORY))
    except ValueError:
        return str(path)


def render_text(analysis: Analysis) -> str:
    w = analysis.workload
    prices = analysis.prices
    lines = [
        f"Monthly cost of serving the model ({HOURS_PER_MONTH}-hour month; AWS "
        f"{prices.aws_region}, GCP {prices.gcp_region})",
        f"Prices as read on {prices.read_on.isoformat()} from the providers' pricing pages "
        f"({price_file_label(prices.path)}).",
        "These are not live prices: re-read the pages before deciding.",
        "",
        *_wrap(
            f"Workload: {fmt.num(w.rps)} req/s mean ({fmt.count(w.requests_per_day)} req/day, "
            f"{fmt.count(w.requests_per_month)} req/month), {w.req_size_kb:g} KB requests, "
            f"{w.mem_mb} MB, {w.duration_ms:g} ms, {w.arch}, provisioned concurrency "
            f"{w.provisioned_concurrency}, min instances {w.min_instances}, free tier "
            f"{'on' if w.free_tier else 'off'}",
            indent="  ",
        ),
        "",
        *_table(analysis),
        "",
        f"Break-even with lambda_on_demand (same request shape; rate searched from "
        f"{fmt.num(SEARCH_MIN_RPS)} to {fmt.num(SEARCH_MAX_RPS)} req/s)",
        *(line for crossing in analysis.break_evens for line in _break_even_lines(crossing)),
        "",
        "Recommendation",
        *(line for item in analysis.recommendation for line in _wrap(item, bullet="- ")),
        "",
        "Assumptions",
    ]
    for quote in analysis.quotes:
        lines.append(f"  {quote.option}")
        lines.extend(line for item in quote.assumptions for line in _wrap(item, bullet="  - "))
    return "\n".join(lines) + "\n"


def to_json(analysis: Analysis) -> dict[str, Any]:
    w = analysis.workload
    prices = analysis.prices
    return {
        "prices": {
            "read_on": prices.read_on.isoformat(),
            "note": "list prices as read from the providers' pages on that date, not live prices",
            "file": price_file_label(prices.path),
            "aws_region": prices.aws_region,
            "gcp_region": prices.gcp_region,
            "sources": {
                name: {"url": source.url, "read_on": source.read_on.isoformat()}
                for name, source in prices.sources.items()
            },
        },
        "month_hours": HOURS_PER_MONTH,
        "inputs": {
            "req_per_second_mean": w.rps,
            "req_size_kb": w.req_size_kb,
            "mem_mb": w.mem_mb,
            "duration_ms": w.duration_ms,
            "provisioned_concurrency": w.provisioned_concurrency,
            "min_instances": w.min_instances,
            "arch": w.arch,
            "free_tier": w.free_tier,
        },
        "derived": {
            "requests_per_day": w.requests_per_day,
            "requests_per_month": w.requests_per_month,
            "mean_concurrency": w.mean_concurrency,
        },
        "options": {
            quote.option: {
                "cloud": quote.cloud,
                "monthly_usd": _usd(quote.monthly_usd),
                "breakdown": {name: _usd(usd) for name, usd in quote.breakdown.items()},
                "assumptions": list(quote.assumptions),
            }
            for quote in analysis.quotes
        },
        "cheapest": analysis.cheapest.option,
        "break_even": {
            crossing.option: {
                "versus": crossing.versus,
                "req_per_second": crossing.rps,
                "req_per_day": crossing.req_per_day,
                "cheaper_above": crossing.cheaper_above,
                "cheaper_throughout": crossing.cheaper_throughout,
                "monthly_usd_at_break_even": (
                    None if crossing.monthly_usd is None else _usd(crossing.monthly_usd)
                ),
            }
            for crossing in analysis.break_evens
        },
        "break_even_search_req_per_second": [SEARCH_MIN_RPS, SEARCH_MAX_RPS],
        "recommendation": list(analysis.recommendation),
    }


def _table(analysis: Analysis) -> list[str]:
    cheapest = analysis.cheapest.option
    name_width = max(len(quote.option) for quote in analysis.quotes) + 2
    header = f"  {'option':<{name_width}}{'USD/month':>11}   line items (USD/month)"
    rows = [header]
    indent = " " * (2 + name_width + 11 + 3)
    for quote in analysis.quotes:
        items = ", ".join(f"{name} {usd:,.2f}" for name, usd in quote.breakdown.items())
        marker = " <- cheapest" if quote.option == cheapest else ""
        first = f"  {quote.option:<{name_width}}{quote.monthly_usd:>11,.2f}   "
        wrapped = textwrap.wrap(items + marker, width=WIDTH - len(indent)) or [""]
        rows.append(first + wrapped[0])
        rows.extend(indent + rest for rest in wrapped[1:])
    return rows


def _break_even_lines(crossing: BreakEven) -> list[str]:
    name = f"{crossing.option:<20}"
    if crossing.rps is None:
        text = f"{name}never crosses: {crossing.cheaper_throughout} is cheaper throughout"
    else:
        direction = "above" if crossing.cheaper_above == crossing.option else "below"
        text = (
            f"{name}{fmt.num(crossing.rps)} req/s ({fmt.count(crossing.req_per_day or 0)} "
            f"req/day), {fmt.money(crossing.monthly_usd or 0)}/month each; cheaper {direction} it"
        )
    return textwrap.wrap(text, width=WIDTH, initial_indent="  ", subsequent_indent=" " * 22)


def _wrap(text: str, *, bullet: str = "", indent: str = "") -> list[str]:
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=indent + bullet,
        subsequent_indent=indent + " " * len(bullet),
        break_on_hyphens=False,
    )


def _usd(value: float) -> float:
    """Dollars to a millionth: precise enough to re-add, short enough to read."""
    return round(value, 6)
