"""The recommendation's words follow the numbers; the report and plot data match the quotes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from costing import fmt
from costing.analysis import analyse
from costing.fargate import task_capacity_rps
from costing.options import OPTIONS
from costing.plot import curves, plot_range
from costing.prices import load_prices
from costing.report import render_text
from costing.workload import Workload

PRICES = load_prices()
REFERENCE = Workload(rps=100, req_size_kb=1, mem_mb=512, duration_ms=80)


def recommendation(workload: Workload) -> str:
    return "\n".join(analyse(workload, PRICES).recommendation)


def test_reference_recommendation_names_the_cheapest_and_the_gap():
    text = analyse(REFERENCE, PRICES).recommendation
    # $483.26 - $348.00 = $135.26, 28% of $483.26
    assert text[0] == (
        "Cheapest for this workload: cloud_functions at $348.00 a month, $135.26 (28%) less than "
        "the next cheapest, lambda_provisioned ($483.26)."
    )
    assert text[1] == (
        "cloud_functions runs on Google Cloud; on AWS alone the cheapest is lambda_provisioned at "
        "$483.26 ($135.26 more)."
    )


def test_recommendation_reports_each_break_even_against_the_workload():
    text = recommendation(REFERENCE)
    assert (
        "Provisioned concurrency (2) pays for itself above 15 req/s (1,296,000 req/day), a mean "
        "concurrency of 1.2 (60% of the 2 kept warm); this workload, at 100 req/s, is above it."
    ) in text
    assert "fargate never costs less than lambda_on_demand between 0.0001 and 1,000,000" in text
    assert "kubernetes costs less than lambda_on_demand above 145.8 req/s" in text
    assert "at 100 req/s, is below it" in text.split("kubernetes costs less", 1)[1]


def test_zero_traffic_recommends_on_demand():
    text = analyse(replace(REFERENCE, rps=0), PRICES).recommendation
    assert text[0] == (
        "Cheapest for this workload: lambda_on_demand at $0.00 a month, $5.47 less than the next "
        "cheapest, cloud_functions ($5.47)."
    )
    assert "Latency: at zero traffic nothing on demand stays warm" in "\n".join(text)


def test_provisioned_latency_text_follows_the_share_of_traffic_it_serves():
    # N = 2 of a mean concurrency of 8. Covering the mean takes N = 8: 8 x 0.5 GB x 2,628,000 s
    # x $0.0000041667 = $43.80 + 10,512,000 GB-s x $0.0000097222 = $102.20 + $52.56 + $262.80
    assert (
        "2 provisioned environments serve 25% of requests (mean concurrency 8); the other 75% run "
        "on on-demand environments that can start cold. Covering the mean takes 8, for $461.36 a "
        "month."
    ) in recommendation(REFERENCE)
    covered = recommendation(replace(REFERENCE, provisioned_concurrency=10))
    assert "10 provisioned environments cover the mean concurrency of 8" in covered
    assert "Covering the mean" not in covered


def test_min_instances_text_follows_the_busy_instances():
    assert "keeps 1 warm minimum instance for 10 busy on average (10%)" in recommendation(REFERENCE)
    quiet = recommendation(replace(REFERENCE, rps=1))
    # 1 req/s x 0.1 s = 0.1 busy; 0.9 idle x 2,628,000 s x $0.0000020825 = $4.93
    assert "cold starts only in bursts above 1; the warm minimum costs $4.93 a month" in quiet
    assert "scales to zero" in recommendation(replace(REFERENCE, min_instances=0))


def test_containers_cost_at_zero_traffic_is_stated():
    assert "(fargate $88.51 and kubernetes $180.53 a month)" in recommendation(REFERENCE)


def test_gateway_share_is_mentioned_only_when_it_dominates():
    assert "The HTTP API is 54% of lambda_on_demand's bill ($262.80 of $490.56)" in (
        recommendation(REFERENCE)
    )
    # 500 ms on 2 GB: compute is $4,380 a month against $262.80 for the gateway
    assert "The HTTP API is" not in recommendation(replace(REFERENCE, mem_mb=2048, duration_ms=500))


def test_a_warning_on_the_cheapest_option_reaches_the_recommendation():
    large = Workload(rps=1000, req_size_kb=600, mem_mb=10_240, duration_ms=1000, arch="arm64")
    analysis = analyse(large, PRICES)
    assert analysis.cheapest.option == "kubernetes"
    assert analysis.recommendation[1].startswith(
        "But kubernetes: a 10240 MB pod does not fit the about 3300 MB a t3.medium node can "
        "allocate"
    )


def test_aws_alone_line_is_absent_when_aws_is_cheapest():
    text = recommendation(replace(REFERENCE, rps=0))
    assert "on AWS alone" not in text


def test_text_report_lists_every_option_with_its_assumptions():
    text = render_text(analyse(REFERENCE, PRICES))
    assumptions = text.split("\nAssumptions\n", 1)[1]
    for option in OPTIONS:
        assert f"\n  {option.name}\n" in "\n" + assumptions
    assert "Assumes a new connection per request (no keep-alive: the pessimistic case)" in text
    assert "compute: 14 tasks = max(2 for availability, ceil(100 / 7.5))" in text
    assert "nodes: 7 x t3.medium" in text
    assert "each request billed 100 ms (its 80 ms rounded up to 100 ms)" in text


def test_plot_curves_are_the_quoted_costs_and_show_the_task_steps():
    analysis = analyse(REFERENCE, PRICES)
    data = curves(analysis)
    assert list(data) == [option.name for option in OPTIONS]
    low, high = plot_range(analysis)
    assert low <= 0.01 and high >= 10 * 145.7  # reaches past the kubernetes crossing
    for option in OPTIONS:
        xs, ys = data[option.name]
        assert xs == sorted(xs)
        assert xs[0] >= low and xs[-1] <= high
        for x, y in list(zip(xs, ys, strict=True))[::50]:
            assert y == pytest.approx(option.monthly_usd(REFERENCE.at_rate(x), PRICES))
    # Fargate's third task starts just above 2 x 7.5 req/s: both sides of the step are drawn.
    xs, ys = data["fargate"]
    edge = 2 * task_capacity_rps(REFERENCE)
    at, after = xs.index(edge), xs.index(edge) + 1
    assert ys[after] - ys[at] == pytest.approx(36.0401, rel=1e-3)  # one more task a month


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (15.000000001, "15"), (145.786, "145.8"), (2.77401, "2.774"), (0.0001, "0.0001"),
     (1234567.8, "1,234,568"), (0.47612, "0.4761")],
)  # fmt: skip
def test_numbers_are_printed_without_exponents(value, text):
    assert fmt.num(value) == text


def test_unit_prices_are_printed_in_plain_decimals():
    assert fmt.rate(0.0000166667) == "$0.0000166667"
    assert fmt.rate(0.000024) == "$0.000024"
    assert fmt.rate(0.0416) == "$0.0416"
    assert fmt.money(1234.5) == "$1,234.50"
