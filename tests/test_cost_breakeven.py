"""Break-even rates: solved on the cost curves, where the two costs agree."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costing.aws_lambda import LAMBDA_ON_DEMAND, LAMBDA_PROVISIONED
from costing.breakeven import (
    GRID_RATIO,
    SEARCH_MAX_RPS,
    SEARCH_MIN_RPS,
    break_even,
    break_evens,
    first_sign_change,
    search_points,
)
from costing.cloud_functions import CLOUD_FUNCTIONS
from costing.fargate import FARGATE
from costing.kubernetes import KUBERNETES
from costing.options import OPTIONS
from costing.prices import load_prices
from costing.workload import Workload

PRICES = load_prices()
REFERENCE = Workload(rps=100, req_size_kb=1, mem_mb=512, duration_ms=80)
SLOW = Workload(rps=100, req_size_kb=1, mem_mb=2048, duration_ms=500)


def costs_at(crossing, workload):
    """Both options' monthly cost at the reported break-even rate."""
    at_rate = replace(workload, rps=crossing.rps)
    option = next(o for o in OPTIONS if o.name == crossing.option)
    versus = next(o for o in OPTIONS if o.name == crossing.versus)
    return option.monthly_usd(at_rate, PRICES), versus.monthly_usd(at_rate, PRICES)


def assert_costs_agree(crossing, workload):
    mine, theirs = costs_at(crossing, workload)
    assert abs(mine - theirs) <= 0.005 * max(mine, theirs)
    assert crossing.monthly_usd == pytest.approx(theirs)


def test_provisioned_pays_for_itself_at_60_percent_of_its_concurrency():
    # Below N the only difference is the always-on charge against the cheaper duration price:
    #   N x GB x $0.0000041667 = r x 0.08 s x GB x ($0.0000166667 - $0.0000097222)
    #   r = 2 x 0.0000041667 / (0.08 x 0.0000069445) = 15.0 req/s: mean concurrency 1.2 = 0.6 N
    crossing = break_even(LAMBDA_PROVISIONED, LAMBDA_ON_DEMAND, REFERENCE, PRICES)
    assert crossing.rps == pytest.approx(15.0, rel=1e-6)
    assert crossing.req_per_day == pytest.approx(1_296_000, rel=1e-6)
    assert crossing.cheaper_above == "lambda_provisioned"
    assert_costs_agree(crossing, REFERENCE)


def test_provisioned_break_even_scales_with_n():
    crossing = break_even(
        LAMBDA_PROVISIONED, LAMBDA_ON_DEMAND, replace(REFERENCE, provisioned_concurrency=20), PRICES
    )
    assert crossing.rps == pytest.approx(150.0, rel=1e-6)


def test_cloud_functions_break_even_matches_the_closed_form():
    # Below 10 req/s the warm instance idles part of the time. Per req/s a month:
    #   lambda   2,628,000 x (0.20 + 0.666668 + 1.00)/1e6 = 4.9056035
    #   function 2,628,000 x (0.40 + 0.1 x (0.333 x 24 + 0.5 x 2.5))/1e6 = 3.4799976, plus the
    #   idle instance 5.47281 x (1 - 0.1 r)  ->  4.9056035 r = 2.9327166 r + 5.47281
    crossing = break_even(CLOUD_FUNCTIONS, LAMBDA_ON_DEMAND, REFERENCE, PRICES)
    assert crossing.rps == pytest.approx(5.47281 / (4.9056035 - 2.9327166), rel=1e-6)
    assert_costs_agree(crossing, REFERENCE)


def test_fargate_never_beats_on_demand_for_the_reference_shape():
    # Per req/s, Fargate costs $36.04 / 7.5 = $4.81 plus $0.23 of LCU: more than the $4.91 (and
    # $4.64 past 300 M requests) on-demand Lambda costs per req/s, so it never catches up.
    crossing = break_even(FARGATE, LAMBDA_ON_DEMAND, REFERENCE, PRICES)
    assert crossing.rps is None
    assert crossing.req_per_day is None
    assert crossing.cheaper_throughout == "lambda_on_demand"
    assert not crossing.crosses


def test_kubernetes_crossing_is_where_the_costs_meet_between_node_steps():
    crossing = break_even(KUBERNETES, LAMBDA_ON_DEMAND, REFERENCE, PRICES)
    assert crossing.rps is not None
    assert 100 < crossing.rps < 200
    assert_costs_agree(crossing, REFERENCE)
    below = replace(REFERENCE, rps=crossing.rps * 0.999)
    above = replace(REFERENCE, rps=crossing.rps * 1.001)
    assert KUBERNETES.monthly_usd(below, PRICES) > LAMBDA_ON_DEMAND.monthly_usd(below, PRICES)
    assert KUBERNETES.monthly_usd(above, PRICES) < LAMBDA_ON_DEMAND.monthly_usd(above, PRICES)


@pytest.mark.parametrize(
    "workload",
    [
        REFERENCE,
        replace(REFERENCE, arch="arm64"),
        SLOW,
        replace(SLOW, free_tier=True, provisioned_concurrency=5),
        Workload(rps=1, req_size_kb=600, mem_mb=10_240, duration_ms=900_000, min_instances=3),
    ],
    ids=["reference", "reference-arm", "slow", "slow-free-tier", "huge-and-long"],
)
def test_every_reported_break_even_is_where_the_costs_agree(workload):
    crossings = break_evens(workload, PRICES)
    assert [c.option for c in crossings] == [
        "lambda_provisioned", "fargate", "kubernetes", "cloud_functions",
    ]  # fmt: skip
    assert any(c.crosses for c in crossings)
    for crossing in crossings:
        assert crossing.versus == "lambda_on_demand"
        if crossing.crosses:
            assert SEARCH_MIN_RPS <= crossing.rps <= SEARCH_MAX_RPS
            assert_costs_agree(crossing, workload)
        else:
            assert crossing.cheaper_throughout in {crossing.option, crossing.versus}


def test_slow_requests_make_containers_cheaper_early():
    # 500 ms on 2 GB costs Lambda $0.0000166667 x 1 GB-s per request; a 1 vCPU task serves
    # 2 req/s x 60% = 1.2 req/s for $0.0494/h: both containers win at a few req/s.
    crossings = {c.option: c for c in break_evens(SLOW, PRICES)}
    assert crossings["fargate"].cheaper_above == "fargate"
    assert 1 < crossings["fargate"].rps < 3
    assert 3 < crossings["kubernetes"].rps < 6


def test_cloud_functions_can_be_cheaper_only_below_the_crossing():
    # Min instances 0 and the free tier: Cloud Functions costs nothing at low rates while the
    # HTTP API bills from the first request. Per request it loses: 101 ms is billed as 200 ms,
    #   0.40/M + 0.2 s x (0.583 x $0.000024 + 1 x $0.0000025) = $3.70/M against Lambda's
    #   0.20/M + 0.101 s x 1 GB x $0.0000166667 + 1.00/M = $2.88/M,
    # so past its larger free allowance it costs more.
    workload = Workload(
        rps=10, req_size_kb=1, mem_mb=1024, duration_ms=101, min_instances=0, free_tier=True
    )
    crossing = break_even(CLOUD_FUNCTIONS, LAMBDA_ON_DEMAND, workload, PRICES)
    assert crossing.cheaper_above == "lambda_on_demand"
    assert 0.5 < crossing.rps < 1.5
    assert_costs_agree(crossing, workload)


def test_cloud_functions_without_idle_cost_can_be_cheaper_at_every_rate():
    # 1 s on 10 GB: $0.000121 a request on a 4 vCPU instance against Lambda's $0.000168.
    workload = Workload(rps=10, req_size_kb=1, mem_mb=10_240, duration_ms=1000, min_instances=0)
    crossing = break_even(CLOUD_FUNCTIONS, LAMBDA_ON_DEMAND, workload, PRICES)
    assert crossing.rps is None
    assert crossing.cheaper_throughout == "cloud_functions"


def test_step_boundaries_reveal_a_crossing_the_plain_grid_misses():
    # Option: $0.50 + $1 per step of 1 req/s; the other: $1.001 per req/s. Just below step k the
    # option is cheaper once 0.001 k > 0.5, i.e. from k = 501, in windows only
    # (0.001 k - 0.5) / 1.001 req/s wide: 0.001 req/s at k = 501, far inside one 1% grid interval.
    def difference(rps):
        return 0.5 + math.ceil(rps - 1e-9) - 1.001 * rps

    found = first_sign_change(difference, search_points(step=1.0))
    assert found is not None
    rps, positive_before = found
    assert positive_before
    assert 500.99 < rps <= 501
    assert difference(rps * (1 - 1e-9)) > 0 > difference(rps * (1 + 1e-12))
    plain, _ = first_sign_change(difference, search_points())
    assert plain > 501 * GRID_RATIO  # what scanning a grid alone would report


def test_search_points_span_the_range_at_one_percent():
    points = search_points()
    assert points[0] == SEARCH_MIN_RPS
    assert points[-1] == SEARCH_MAX_RPS
    ratios = [b / a for a, b in itertools.pairwise(points)]
    assert max(ratios) <= GRID_RATIO + 1e-12


@settings(max_examples=8, deadline=None)
@given(
    mem_mb=st.integers(min_value=128, max_value=10_240),
    duration_ms=st.floats(min_value=1, max_value=30_000),
    req_size_kb=st.floats(min_value=0.1, max_value=6144),
    arch=st.sampled_from(["x86_64", "arm64"]),
    free_tier=st.booleans(),
    n=st.integers(min_value=1, max_value=50),
)
def test_any_request_shape_crossings_agree(mem_mb, duration_ms, req_size_kb, arch, free_tier, n):
    workload = Workload(
        rps=1, req_size_kb=req_size_kb, mem_mb=mem_mb, duration_ms=duration_ms, arch=arch,
        free_tier=free_tier, provisioned_concurrency=n,
    )  # fmt: skip
    for crossing in break_evens(workload, PRICES):
        if crossing.crosses:
            assert_costs_agree(crossing, workload)
