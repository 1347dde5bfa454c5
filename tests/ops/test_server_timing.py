"""Parsing the handler's Server-Timing header (W3C Server Timing)."""

from __future__ import annotations

import pytest

from ops.server_timing import ServerTiming, parse_server_timing


def test_a_warm_answer_has_only_the_handler_time() -> None:
    timing = ServerTiming.from_header("handler;dur=0.512")
    assert timing == ServerTiming(handler_ms=0.512, init_ms=None)
    assert not timing.cold


def test_a_cold_answer_also_has_the_init_time_in_any_order() -> None:
    for header in ("handler;dur=0.512, init;dur=163.2", "init;dur=163.2,handler;dur=0.512"):
        timing = ServerTiming.from_header(header)
        assert timing == ServerTiming(handler_ms=0.512, init_ms=163.2)
        assert timing.cold


def test_other_metrics_descriptions_and_spacing_are_tolerated() -> None:
    header = 'cdn-cache; desc="HIT, from edge; fast", handler ; desc="x" ; dur = 2.5 ,init;dur="7"'
    assert parse_server_timing(header) == {"cdn-cache": None, "handler": 2.5, "init": 7.0}


def test_the_first_metric_and_the_first_dur_win() -> None:
    assert parse_server_timing("handler;dur=1;dur=9, handler;dur=5") == {"handler": 1.0}


@pytest.mark.parametrize(
    "header",
    ["", "handler", "handler;dur=abc", "handler;dur=-1", "handler;dur=nan", "handler;dur=inf"],
)
def test_a_missing_or_malformed_duration_is_none(header: str) -> None:
    assert ServerTiming.from_header(header).handler_ms is None


def test_no_header_at_all_is_neither_warm_nor_cold() -> None:
    assert ServerTiming.from_header(None) == ServerTiming(None, None)


def test_entries_that_are_not_tokens_are_skipped() -> None:
    assert parse_server_timing('"quoted";dur=1, ok;dur=2, bad name;dur=3') == {"ok": 2.0}
