"""The probe's latency histogram: end-to-end latency of every answer, cold and warm in their own
colours on a log axis (a cold start is seconds, a warm request milliseconds), with the targets.

matplotlib is imported inside `write_histogram` only, so the probe starts without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ops.errors import CannotRun
from ops.latency import COLD, FORCED_COLD, UNKNOWN, WARM, Sample, TargetVerdict

COLOURS = {WARM: "tab:blue", COLD: "tab:red", FORCED_COLD: "tab:orange", UNKNOWN: "tab:gray"}
BINS = 40


def check_plot_path(path: Path) -> None:
    """Fail before any request is sent rather than after a long probe."""
    if path.suffix.lower() != ".png":
        raise CannotRun(f"--plot must name a .png file, got {str(path)!r}")
    if not path.parent.is_dir():
        raise CannotRun(f"--plot: directory {str(path.parent)!r} does not exist")


def log_bins(values: Sequence[float], count: int = BINS) -> list[float]:
    """`count` bins of equal width on a log scale, covering every value."""
    low, high = min(values), max(values)
    low, high = max(low, 1e-3) * 0.9, max(high, 1e-3) * 1.1
    step = (math.log10(high) - math.log10(low)) / count
    return [10 ** (math.log10(low) + i * step) for i in range(count + 1)]


def write_histogram(
    samples: Sequence[Sample], targets: Sequence[TargetVerdict], path: Path, title: str
) -> None:
    from matplotlib.figure import Figure

    answered = [s for s in samples if s.ok and s.client_ms is not None]
    if not answered:
        raise CannotRun("nothing to plot: no request was answered with a 2xx")
    bins = log_bins([s.client_ms for s in answered if s.client_ms is not None])
    figure = Figure(figsize=(10, 5.5))
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.11, top=0.88)
    axes = figure.add_subplot()
    for group, colour in COLOURS.items():
        values = [s.client_ms for s in answered if s.group == group and s.client_ms is not None]
        if values:
            axes.hist(
                values, bins=bins, color=colour, alpha=0.75, label=f"{group} (n={len(values)})"
            )
    for target in targets:
        colour = COLOURS[WARM] if target.name == "warm" else COLOURS[COLD]
        axes.axvline(target.limit_ms, color=colour, linestyle="--", linewidth=1)
        axes.annotate(
            f"{target.name} target {target.limit_ms:g} ms",
            (target.limit_ms, 0.02),
            xycoords=("data", "axes fraction"),
            rotation=90,
            ha="right",
            va="bottom",
            fontsize=8,
            color=colour,
        )
    axes.set_xscale("log")
    axes.set_xlim(bins[0], max(bins[-1], *(t.limit_ms * 1.2 for t in targets)))
    axes.set_xlabel("end-to-end latency (ms, log scale)")
    axes.set_ylabel("requests")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(loc="upper right")
    axes.set_title(title, fontsize=10)
    try:
        handle = path.open("wb")
    except OSError as exc:
        raise CannotRun(f"cannot write the plot to {path}: {exc.strerror or exc}") from None
    with handle:
        # No "Software" entry: the PNG does not change with the matplotlib version.
        figure.savefig(handle, format="png", dpi=110, metadata={"Software": None})
