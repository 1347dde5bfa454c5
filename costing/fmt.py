"""Number formatting shared by the assumptions and the report."""

from __future__ import annotations

import math


def rate(usd: float) -> str:
    """A unit price in plain decimals, never scientific notation: $0.0000166667, $0.0416."""
    text = f"{usd:.10f}".rstrip("0").rstrip(".")
    return f"${text}"


def money(usd: float) -> str:
    return f"${usd:,.2f}"


def num(value: float) -> str:
    """A quantity to four significant digits, without exponents or trailing zeros."""
    if value < 0:
        return "-" + num(-value)
    if value >= 1000 or value == 0:
        return f"{value:,.0f}"
    decimals = max(0, 3 - math.floor(math.log10(value)))
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def count(value: float) -> str:
    return f"{value:,.0f}"
