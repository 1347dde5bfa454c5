"""Parse the `Server-Timing` response header (W3C Server Timing) the handler sends.

Every response carries `handler;dur=<ms>`; the response that waited on its instance's start-up
also carries `init;dur=<ms>` (CONTRACTS.md §1). Metrics come comma-separated in any order,
parameters after semicolons, and a quoted `desc` may itself hold commas or semicolons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HANDLER_METRIC = "handler"
INIT_METRIC = "init"


@dataclass(frozen=True)
class ServerTiming:
    """The handler's own time for a request, and its instance's init time when it was cold."""

    handler_ms: float | None
    init_ms: float | None

    @property
    def cold(self) -> bool:
        return self.init_ms is not None

    @classmethod
    def from_header(cls, value: str | None) -> ServerTiming:
        metrics = parse_server_timing(value or "")
        return cls(handler_ms=metrics.get(HANDLER_METRIC), init_ms=metrics.get(INIT_METRIC))


def parse_server_timing(value: str) -> dict[str, float | None]:
    """Metric name -> its `dur` in ms (None when absent or not a finite number >= 0).

    The first metric of a name wins, as does the first `dur` of a metric; a malformed entry is
    skipped rather than failing the whole header.
    """
    metrics: dict[str, float | None] = {}
    for entry in _split_outside_quotes(value, ","):
        name, *params = (part.strip() for part in _split_outside_quotes(entry, ";"))
        if not name or name in metrics or not _is_token(name):
            continue
        metrics[name] = None
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip().lower() == "dur":
                metrics[name] = _duration(raw.strip().strip('"'))
                break
    return metrics


def _duration(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _is_token(name: str) -> bool:
    # RFC 7230 token characters: no separators, no whitespace, no quotes.
    return all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts
