"""The cost-curves plot: monthly cost against request rate on a log axis, crossings marked.

matplotlib is imported inside `write_plot` only, so the rest of the tool starts without it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from costing import fmt
from costing.analysis import Analysis
from costing.breakeven import SEARCH_MAX_RPS, SEARCH_MIN_RPS
from costing.options import OPTIONS
from costing.workload import SECONDS_PER_DAY

POINTS = 600
MAX_STEP_EDGES = 400  # draw task/node steps as steps only while they stay visible
LINEAR_BELOW_USD = 0.01  # symlog: zero (free tier, no traffic) stays on the chart


class PlotError(RuntimeError):
    """When the plot cannot be drawn (no matplotlib) or written"""


def plot_range(analysis: Analysis) -> tuple[float, float]:
    """From well below to well above the workload and every crossing."""
    rates = [analysis.workload.rps, *(c.rps for c in analysis.break_evens if c.rps)]
    positive = [rate for rate in rates if rate > 0]
    low = min([0.01, *(rate / 10 for rate in positive)])
    high = max([1000.0, *(rate * 10 for rate in positive)])
    return max(low, SEARCH_MIN_RPS), min(high, SEARCH_MAX_RPS)


def curves(analysis: Analysis) -> dict[str, tuple[list[float], list[float]]]:
    """Each option's monthly cost at rates across the plot range (no matplotlib needed)."""
    low, high = plot_range(analysis)
    ratio = (high / low) ** (1 / (POINTS - 1))
    grid = [low * ratio**i for i in range(POINTS)]
    result = {}
    for option in OPTIONS:
        rates = set(grid)
        step = option.step_width(analysis.workload, analysis.prices)
        if step is not None and (high - low) / step <= MAX_STEP_EDGES:
            edges = [step * k for k in range(math.ceil(low / step), math.floor(high / step) + 1)]
            rates.update(edge for edge in edges if low <= edge <= high)
            rates.update(edge * (1 + 1e-9) for edge in edges if low <= edge * (1 + 1e-9) <= high)
        xs = sorted(rates)
        ys = [option.monthly_usd(analysis.workload.at_rate(rate), analysis.prices) for rate in xs]
        result[option.name] = (xs, ys)
    return result


def _per_day(rps: Any) -> Any:
    """Requests a second to a day, for the top axis (matplotlib passes numpy arrays)."""
    return rps * SECONDS_PER_DAY


def _per_second(per_day: Any) -> Any:
    return per_day / SECONDS_PER_DAY


def write_plot(analysis: Analysis, path: Path) -> None:
    """Draw the curves to a PNG at `path`, headless (no display, no pyplot state)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError as error:
        raise PlotError("--plot needs matplotlib: pip install -r requirements.txt") from error

    w = analysis.workload
    figure = Figure(figsize=(11, 6.5))
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.09, top=0.83)
    axes = figure.add_subplot()
    colours = {}
    for name, (xs, ys) in curves(analysis).items():
        (line,) = axes.plot(xs, ys, label=name, linewidth=1.8)
        colours[name] = line.get_color()

    low, high = plot_range(analysis)
    for crossing in analysis.break_evens:
        if crossing.rps is None or not low <= crossing.rps <= high:
            continue
        cost = crossing.monthly_usd or 0.0
        axes.plot(
            [crossing.rps],
            [cost],
            marker="o",
            markersize=7,
            color=colours[crossing.option],
            markeredgecolor="black",
            zorder=5,
        )
        axes.annotate(
            f"{fmt.num(crossing.rps)} req/s",
            (crossing.rps, cost),
            textcoords="offset points",
            xytext=(-8, 8),
            ha="right",
            fontsize=8,
            color=colours[crossing.option],
        )

    if w.rps > 0:
        axes.axvline(w.rps, color="black", linestyle="--", linewidth=1)
        axes.annotate(
            f"this workload: {fmt.num(w.rps)} req/s",
            (w.rps, 0.02),
            xycoords=("data", "axes fraction"),
            rotation=90,
            ha="right",
            va="bottom",
            fontsize=9,
        )

    axes.set_xscale("log")
    axes.set_yscale("symlog", linthresh=LINEAR_BELOW_USD)
    axes.set_xlim(low, high)
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"${value:,.10g}"))
    axes.set_xlabel("mean request rate (requests per second, log scale)")
    axes.set_ylabel(f"USD per month (log scale; linear below ${LINEAR_BELOW_USD})")
    top = axes.secondary_xaxis("top", functions=(_per_day, _per_second))
    top.set_xlabel("requests per day")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(loc="upper left")
    axes.set_title(
        f"Monthly cost by request rate: {w.req_size_kb:g} KB requests, {w.mem_mb} MB, "
        f"{w.duration_ms:g} ms, {w.arch}, provisioned concurrency {w.provisioned_concurrency}, "
        f"min instances {w.min_instances}, free tier {'on' if w.free_tier else 'off'}\n"
        f"prices as read on {analysis.prices.read_on.isoformat()} "
        f"(not live); dots: break-even with lambda_on_demand",
        fontsize=10,
    )
    # Open the file before drawing (savefig draws first): a bad path fails in milliseconds.
    try:
        handle = path.open("wb")
    except OSError as error:
        raise PlotError(f"cannot write the plot to {path}: {error.strerror or error}") from error
    with handle:
        # No "Software" entry: the PNG does not change with the matplotlib version.
        figure.savefig(handle, format="png", dpi=110, metadata={"Software": None})
