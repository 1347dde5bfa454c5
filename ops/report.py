"""Plain-text tables for the terminal (the JSON forms are each command's own)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from ops.checks import CheckResult

DETAIL_WIDTH = 72


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()
) -> str:
    """Columns padded to their widest cell; columns listed in `right` are right-aligned, and a
    cell may span lines (the other cells of its row stay on the first)."""
    cells = [[str(c).split("\n") for c in row] for row in [header, *rows]]
    widths = [max(len(line) for row in cells for line in row[i]) for i in range(len(header))]
    out = []
    for row in cells:
        height = max(len(c) for c in row)
        for n in range(height):
            parts = []
            for i, cell in enumerate(row):
                text = cell[n] if n < len(cell) else ""
                parts.append(text.rjust(widths[i]) if i in right else text.ljust(widths[i]))
            out.append("  " + "  ".join(parts).rstrip())
    return "\n".join(out)


def render_checks(title: str, results: Sequence[CheckResult]) -> str:
    rows = [
        (r.name, "PASS" if r.passed else "FAIL", "\n".join(textwrap.wrap(r.detail, DETAIL_WIDTH)))
        for r in results
    ]
    return f"{title}\n\n{table(('check', 'result', 'detail'), rows)}\n"


def verdict(prog: str, results: Sequence[CheckResult]) -> str:
    failed = [r.name for r in results if not r.passed]
    if not failed:
        return f"{prog}: all {len(results)} checks passed"
    return f"{prog}: {len(failed)} of {len(results)} checks failed: {', '.join(failed)}"
