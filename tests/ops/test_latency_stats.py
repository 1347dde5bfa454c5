"""Percentiles, the cold/warm split and the acceptance targets (pure)."""

from __future__ import annotations

import pytest

from ops.latency import COLD, FORCED_COLD, UNKNOWN, WARM, Sample, summarise
from ops.stats import Summary, percentile


def warm(ms: float, handler: float = 0.5, status: int = 200) -> Sample:
    return Sample(0.0, ms, status, handler, None)


def cold(ms: float, init: float = 160.0, forced: bool = False) -> Sample:
    return Sample(0.0, ms, 200, 0.5, init, forced=forced)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 100, 4),
        ([1, 2, 3, 4], 0, 1),
        ([7], 99, 7),
        (list(range(1, 101)), 99, 99.01),
        ([4, 1, 3, 2], 25, 1.75),
    ],
)
def test_percentiles_interpolate_between_ranks(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_of_nothing_is_none() -> None:
    assert Summary.of([]) is None
    assert Summary.of([3.0, 1.0]) == Summary(n=2, p50=2.0, p90=2.8, p99=2.98, max=3.0)


def test_answers_split_into_groups_by_server_timing() -> None:
    result = summarise([cold(900.0), cold(2500.0, forced=True), warm(10.0), warm(30.0)])
    assert set(result.groups) == {COLD, FORCED_COLD, WARM}
    assert result.groups[WARM].client == Summary.of([10.0, 30.0])
    assert result.groups[COLD].init == Summary.of([160.0])
    # server = handler + init on the cold answer: 160.5 of 900 ms end to end
    assert result.groups[COLD].server_share == pytest.approx(160.5 / 900.0)
    assert result.groups[WARM].server_share == pytest.approx((0.5 / 10 + 0.5 / 30) / 2)


def test_targets_hold_cold_max_and_warm_p99() -> None:
    result = summarise([cold(2999.0), warm(20.0), warm(99.0)])
    cold_target, warm_target = result.targets
    assert (cold_target.statistic, cold_target.value_ms, cold_target.met) == ("max", 2999.0, True)
    assert (warm_target.statistic, warm_target.met) == ("p99", True)
    assert result.passed


def test_a_slow_cold_start_misses_its_target() -> None:
    result = summarise([cold(3000.0), warm(5.0)])
    assert [t.met for t in result.targets] == [False, True]
    assert result.targets[0].describe() == "cold < 3000 ms (max, end to end): MISSED (3000.0 ms)"
    assert not result.passed


def test_targets_are_configurable() -> None:
    result = summarise([warm(40.0)], warm_target_ms=30.0)
    assert result.targets[1].met is False


def test_a_target_with_nothing_measured_neither_passes_nor_fails() -> None:
    result = summarise([warm(5.0)])
    assert result.targets[0].met is None
    assert result.targets[0].describe().endswith("not measured")
    assert result.passed


def test_failed_requests_are_counted_never_averaged_in() -> None:
    samples = [
        warm(5.0),
        warm(1.0, status=503),
        warm(1.0, status=503),
        Sample(0.0, None, None, None, None, error="cannot reach x: connection refused"),
    ]
    result = summarise(samples)
    assert result.groups[WARM].client.n == 1
    assert result.statuses == {"200": 1, "503": 2, "error": 1}
    assert result.failures == {"HTTP 503": 2, "cannot reach x: connection refused": 1}
    assert not result.passed


def test_throttling_says_what_to_do_about_it() -> None:
    result = summarise([warm(5.0), warm(1.0, status=429)])
    assert result.failures == {
        "HTTP 429 (throttled by the gateway: lower --concurrency or set --rate)": 1
    }


def test_answers_without_server_timing_are_a_problem_not_warm() -> None:
    result = summarise([Sample(0.0, 5.0, 200, None, None)])
    assert set(result.groups) == {UNKNOWN}
    assert result.targets[1].met is None
    assert result.failures == {"answered without a Server-Timing header: neither cold nor warm": 1}
    assert not result.passed
