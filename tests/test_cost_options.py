"""Each option priced by hand from the published unit prices, line item by line item.

A month is 730 h = 2,628,000 s. The reference workload is 100 req/s of 1 KB requests on 512 MB
for 80 ms: 262,800,000 requests and 262.8 M x 0.08 s x 0.5 GB = 10,512,000 GB-s a month.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from costing.aws_lambda import LAMBDA_ON_DEMAND, LAMBDA_PROVISIONED, provisioned_share
from costing.cloud_functions import CLOUD_FUNCTIONS, instance_cpu
from costing.fargate import FARGATE, task_count, task_size
from costing.http_api import gateway_usd, metered_units_per_request
from costing.kubernetes import KUBERNETES, node_count
from costing.options import OPTIONS, quote_all
from costing.prices import load_prices
from costing.workload import Workload

PRICES = load_prices()
REFERENCE = Workload(rps=100, req_size_kb=1, mem_mb=512, duration_ms=80)
ZERO = replace(REFERENCE, rps=0)


def items(option, workload):
    return pytest.approx(option.line_items(workload, PRICES), rel=1e-9, abs=1e-9)


# --- the reference workload -----------------------------------------------------------------


def test_lambda_on_demand_reference():
    assert LAMBDA_ON_DEMAND.line_items(REFERENCE, PRICES) == items(LAMBDA_ON_DEMAND, REFERENCE)
    assert LAMBDA_ON_DEMAND.line_items(REFERENCE, PRICES) == pytest.approx(
        {
            "requests": 52.56,  # 262.8 M x $0.20/M
            "compute": 175.2003504,  # 10,512,000 GB-s x $0.0000166667 (all in the first tier)
            "gateway": 262.80,  # 262.8 M x $1.00/M (under the 300 M tier bound)
        }
    )
    assert LAMBDA_ON_DEMAND.monthly_usd(REFERENCE, PRICES) == pytest.approx(490.5603504)


def test_lambda_provisioned_below_mean_concurrency_spills_over():
    # N = 2 < mean concurrency 100 x 0.08 = 8: the pool serves 2/8 = 25% of the traffic.
    assert provisioned_share(REFERENCE) == 0.25
    assert LAMBDA_PROVISIONED.line_items(REFERENCE, PRICES) == pytest.approx(
        {
            "requests": 52.56,
            "provisioned": 10.9500876,  # 2 x 0.5 GB x 2,628,000 s x $0.0000041667
            "compute": 25.5499416,  # 25% x 10,512,000 = 2,628,000 GB-s x $0.0000097222
            "spillover": 131.4002628,  # 75% = 7,884,000 GB-s x $0.0000166667
            "gateway": 262.80,
        }
    )
    assert LAMBDA_PROVISIONED.monthly_usd(REFERENCE, PRICES) == pytest.approx(483.260292)


def test_lambda_provisioned_above_mean_concurrency_serves_everything_warm():
    # N = 10 > 8: all 10,512,000 GB-s at the provisioned duration price, nothing spills over.
    workload = replace(REFERENCE, provisioned_concurrency=10)
    assert provisioned_share(workload) == 1.0
    assert LAMBDA_PROVISIONED.line_items(workload, PRICES) == pytest.approx(
        {
            "requests": 52.56,
            "provisioned": 54.750438,  # 10 x 0.5 GB x 2,628,000 s x $0.0000041667
            "compute": 102.1997664,  # 10,512,000 GB-s x $0.0000097222
            "spillover": 0.0,
            "gateway": 262.80,
        }
    )


def test_fargate_reference():
    # One 1 vCPU task serves 1000/80 = 12.5 req/s flat out, 7.5 at the 60% target:
    # ceil(100 / 7.5) = 14 tasks. Each costs 730 h x (1 x $0.04048 + 2 GB x $0.004445) = $36.0401.
    assert task_size(REFERENCE) == (1.0, 2)
    assert task_count(REFERENCE) == 14
    assert FARGATE.line_items(REFERENCE, PRICES) == pytest.approx(
        {
            "compute": 504.5614,  # 14 x $36.0401
            "load_balancer": 16.425,  # 730 h x $0.0225
            # LCUs: new connections 100/s / 25 = 4 beats processed bytes
            # 100 x 3600 x 2 KB / 1024^2 = 0.687 GB/h: 4 x 730 h x $0.008
            "load_balancer_lcu": 23.36,
        }
    )


def test_kubernetes_reference():
    # A t3.medium node serves 2 vCPU x 12.5 x 60% = 15 req/s: ceil(100/15) = 7 nodes (min 3).
    assert node_count(REFERENCE, PRICES) == 7
    assert KUBERNETES.line_items(REFERENCE, PRICES) == pytest.approx(
        {
            "nodes": 212.576,  # 7 x 730 h x $0.0416
            # CPU demand 100 x 0.08 = 8 vCPU; baseline 7 nodes x 2 vCPU x 20% = 2.8 vCPU;
            # 5.2 vCPU surplus x 730 h x $0.05
            "cpu_credits": 189.80,
            "control_plane": 73.0,  # 730 h x $0.10
            "load_balancer": 16.425,
            "load_balancer_lcu": 23.36,
        }
    )


def test_cloud_functions_reference():
    # 512 MiB gets 0.333 vCPU; 80 ms is billed as 100 ms. 10 instances busy on average, so the
    # one warm minimum instance is never idle.
    assert instance_cpu(REFERENCE) == (512, 0.333)
    assert CLOUD_FUNCTIONS.line_items(REFERENCE, PRICES) == pytest.approx(
        {
            "requests": 105.12,  # 262.8 M x $0.40/M
            # 262.8 M x 0.1 s x 0.333 vCPU = 8,751,240 vCPU-s x $0.000024 = 210.02976
            # + 262.8 M x 0.1 s x 0.5 GiB = 13,140,000 GiB-s x $0.0000025 = 32.85
            "compute": 242.87976,
            "idle": 0.0,
        }
    )


def test_reference_arm64_uses_the_arm_prices():
    arm = replace(REFERENCE, arch="arm64")
    # 10,512,000 GB-s x $0.0000133334
    assert LAMBDA_ON_DEMAND.line_items(arm, PRICES)["compute"] == pytest.approx(140.1607008)
    assert LAMBDA_PROVISIONED.line_items(arm, PRICES) == pytest.approx(
        {
            "requests": 52.56,
            "provisioned": 8.7601752,  # 2,628,000 GB-s x $0.0000033334
            "compute": 20.4400584,  # 2,628,000 GB-s x $0.0000077778
            "spillover": 105.1205256,  # 7,884,000 GB-s x $0.0000133334
            "gateway": 262.80,
        }
    )
    # 14 tasks x 730 h x (1 x $0.03238 + 2 x $0.00356)
    assert FARGATE.line_items(arm, PRICES)["compute"] == pytest.approx(403.69)
    # t3.medium and Cloud Functions have no arm64 price in this tool
    assert KUBERNETES.monthly_usd(arm, PRICES) == KUBERNETES.monthly_usd(REFERENCE, PRICES)


# --- zero traffic ---------------------------------------------------------------------------


def test_zero_traffic_costs_only_what_is_always_on():
    costs = {quote.option: quote.monthly_usd for quote in quote_all(ZERO, PRICES)}
    assert costs == pytest.approx(
        {
            "lambda_on_demand": 0.0,
            "lambda_provisioned": 10.9500876,  # the 2 warm environments only
            "fargate": 88.5052,  # 2 tasks x $36.0401 + ALB $16.425, no LCUs
            "kubernetes": 180.529,  # 3 x 730 x $0.0416 + $73 + $16.425
            # 1 idle instance: 2,628,000 s x (0.333 x $0.0000025 + 0.5 x $0.0000025)
            "cloud_functions": 5.47281,
        }
    )


# --- the free tier --------------------------------------------------------------------------

SMALL = Workload(rps=0.1, req_size_kb=1, mem_mb=128, duration_ms=100, free_tier=True)


def test_free_tier_covers_a_small_lambda_workload_but_not_the_gateway():
    # 262,800 requests (< 1 M free) and 262,800 x 0.1 s x 0.125 GB = 3,285 GB-s (< 400,000):
    # only the HTTP API is billed, 262,800 x $1.00/M; its free tier is new accounts only.
    assert LAMBDA_ON_DEMAND.line_items(SMALL, PRICES) == pytest.approx(
        {"requests": 0.0, "compute": 0.0, "gateway": 0.2628}
    )
    paid = replace(SMALL, free_tier=False)
    # without it: 262,800 x $0.20/M + 3,285 x $0.0000166667 + $0.2628
    assert LAMBDA_ON_DEMAND.monthly_usd(paid, PRICES) == pytest.approx(
        0.05256 + 0.0547501095 + 0.2628
    )


def test_free_tier_never_applies_to_provisioned_concurrency():
    assert LAMBDA_PROVISIONED.line_items(SMALL, PRICES) == pytest.approx(
        {
            "requests": 0.05256,  # 262,800 x $0.20/M
            "provisioned": 2.7375219,  # 2 x 0.125 GB x 2,628,000 s x $0.0000041667
            "compute": 0.031937427,  # 3,285 GB-s x $0.0000097222
            "spillover": 0.0,
            "gateway": 0.2628,
        }
    )


def test_free_tier_covers_cloud_functions_serving_but_not_its_idle_minimum():
    # Serving is free (262,800 < 2 M requests; 2,181 vCPU-s; 3,285 GiB-s). 0.1 x 0.1 s = 0.01
    # instances busy, so 0.99 idle: 0.99 x 2,628,000 s x (0.083 + 0.125) x $0.0000025
    assert CLOUD_FUNCTIONS.line_items(SMALL, PRICES) == pytest.approx(
        {"requests": 0.0, "compute": 0.0, "idle": 1.3528944}
    )


# --- a very large workload crossing the duration and gateway tiers ---------------------------

LARGE = Workload(rps=1000, req_size_kb=1, mem_mb=10_240, duration_ms=1000)


def test_large_workload_crosses_the_x86_duration_tiers():
    # 2.628 B requests x 1 s x 10 GB = 26.28 B GB-s:
    #   6 B x 0.0000166667 + 9 B x 0.000015 + 11.28 B x 0.0000133334 = 385,400.952
    # gateway: 300 M x $1.00/M + 2,328 M x $0.90/M = 300 + 2,095.20
    assert LAMBDA_ON_DEMAND.line_items(LARGE, PRICES) == pytest.approx(
        {"requests": 525.60, "compute": 385_400.952, "gateway": 2_395.20}
    )


def test_large_workload_crosses_the_arm64_duration_tiers():
    # 7.5 B x 0.0000133334 + 11.25 B x 0.0000120001 + 7.53 B x 0.0000106667
    #   = 100,000.50 + 135,001.125 + 80,320.251
    arm = replace(LARGE, arch="arm64")
    assert LAMBDA_ON_DEMAND.line_items(arm, PRICES)["compute"] == pytest.approx(315_321.876)


def test_large_workload_uses_bigger_fargate_tasks_and_warns_kubernetes_pods_do_not_fit():
    # 10,240 MB needs 10 GB, so 2 vCPU (1 vCPU tops out at 8 GB). A 1 s request is 1 req/s per
    # vCPU: 2 x 1 x 60% = 1.2 req/s per task, ceil(1000 / 1.2) = 834 tasks.
    assert task_size(LARGE) == (2.0, 10)
    assert task_count(LARGE) == 834
    assert any("does not fit" in line for line in KUBERNETES.assumptions(LARGE, PRICES))
    assert not any("does not fit" in line for line in KUBERNETES.assumptions(REFERENCE, PRICES))


def test_cloud_functions_gets_the_cpu_of_the_memory_tier_that_holds_it():
    assert instance_cpu(replace(REFERENCE, mem_mb=1024)) == (1024, 0.583)
    assert instance_cpu(replace(REFERENCE, mem_mb=1500)) == (2048, 1.0)
    assert instance_cpu(replace(REFERENCE, mem_mb=10_240)) == (16384, 4.0)


# --- the HTTP API metering --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size_kb", "units"),
    [(1, 1), (512, 1), (512.5, 2), (600, 2), (1024, 2), (1025, 3), (6144, 12)],
)
def test_http_api_meters_requests_in_512_kb_increments(size_kb, units):
    workload = replace(REFERENCE, req_size_kb=size_kb)
    assert metered_units_per_request(workload, PRICES) == units
    # at 100 req/s, 262.8 M x units metered requests, $1.00/M up to 300 M, $0.90/M beyond
    metered = 262.8 * units
    expected = metered if metered <= 300 else 300 + (metered - 300) * 0.9
    assert gateway_usd(workload, PRICES) == pytest.approx(expected)


# --- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
@pytest.mark.parametrize(
    "workload",
    [
        REFERENCE,
        replace(SMALL, free_tier=False),
        replace(LARGE, arch="arm64"),
        replace(REFERENCE, duration_ms=2500, provisioned_concurrency=7, min_instances=3),
    ],
    ids=["reference", "small", "large-arm", "slow"],
)
def test_without_free_tier_cost_never_falls_as_traffic_rises(option, workload):
    rates = [0, 0.01, 0.5, 1, 3, 7.5, 7.6, 15, 15.1, 60, 100, 1000, 50_000]
    costs = [option.monthly_usd(replace(workload, rps=rate), PRICES) for rate in rates]
    assert all(cost >= 0 for cost in costs)
    assert costs == sorted(costs)


def test_with_free_tier_cloud_functions_gets_cheaper_as_its_warm_minimum_gets_busy():
    # Serving stays free up to 0.5 req/s (1.314 M requests, 10,906 vCPU-s, 16,425 GiB-s) but
    # idle time does not: fully idle, 2,628,000 s x (0.083 + 0.125) x $0.0000025 = $1.36656;
    # at 0.5 req/s the instance is busy 0.5 x 0.1 s = 5% of the time and idle 95%.
    costs = [CLOUD_FUNCTIONS.monthly_usd(replace(SMALL, rps=rate), PRICES) for rate in (0, 0.5)]
    assert costs == pytest.approx([1.36656, 1.36656 * 0.95])


def test_quote_total_is_the_sum_of_its_line_items_and_every_option_states_assumptions():
    for quote in quote_all(REFERENCE, PRICES):
        assert quote.monthly_usd == pytest.approx(sum(quote.breakdown.values()))
        assert len(quote.assumptions) >= 3
        assert all(isinstance(text, str) and text for text in quote.assumptions)
