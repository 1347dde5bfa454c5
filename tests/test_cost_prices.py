"""The price file: loaded, validated, dated; tiered prices applied tier by tier."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from costing.prices import DEFAULT_PRICE_FILE, PriceFileError, Tier, load_prices, tiered_cost
from costing.workload import InvalidInput, Workload

RAW = json.loads(DEFAULT_PRICE_FILE.read_text(encoding="utf-8"))


def write_prices(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_default_price_file_loads_with_the_published_unit_prices():
    prices = load_prices()
    assert prices.lambda_.request_usd_per_million == 0.2
    assert prices.lambda_.duration_tiers["x86_64"][0] == Tier(6e9, 0.0000166667)
    assert prices.lambda_.duration_tiers["arm64"][-1] == Tier(None, 0.0000106667)
    assert prices.lambda_.provisioned_usd_per_gb_s == {
        "x86_64": 0.0000041667,
        "arm64": 0.0000033334,
    }
    assert prices.http_api.request_tiers_per_million == (Tier(3e8, 1.0), Tier(None, 0.9))
    assert prices.fargate.vcpu_usd_per_hour["x86_64"] == 0.04048
    assert prices.alb.lcu_new_connections_per_s == 25
    assert prices.ec2.t3_medium_usd_per_hour == 0.0416
    assert prices.eks.cluster_usd_per_hour == 0.1
    assert prices.cloud_run.idle_vcpu_usd_per_s == 0.0000025


def test_every_price_group_names_an_https_source_and_the_date_it_was_read():
    prices = load_prices()
    assert set(prices.sources) == {
        "lambda", "http_api", "fargate", "alb", "ec2", "eks", "cloud_run",
    }  # fmt: skip
    for source in prices.sources.values():
        assert source.url.startswith("https://")
        assert source.read_on == dt.date(2026, 11, 23)
    assert prices.read_on == dt.date(2026, 11, 23)


def test_table_date_is_the_oldest_group_date(tmp_path):
    data = copy.deepcopy(RAW)
    data["services"]["eks"]["read_on"] = "2026-01-31"
    assert load_prices(write_prices(tmp_path, data)).read_on == dt.date(2026, 1, 31)


def test_tiered_cost_prices_each_part_at_its_own_tier():
    tiers = (Tier(10, 1.0), Tier(25, 0.5), Tier(None, 0.1))
    assert tiered_cost(0, tiers) == 0
    assert tiered_cost(4, tiers) == 4  # all in the first tier
    assert tiered_cost(10, tiers) == 10
    assert tiered_cost(20, tiers) == 10 + 10 * 0.5
    assert tiered_cost(100, tiers) == pytest.approx(10 + 15 * 0.5 + 75 * 0.1)


def test_lambda_duration_tiers_from_the_file():
    # 26.28 B GB-s on x86_64: 6 B x 0.0000166667 = 100,000.20
    #   + 9 B x 0.000015 = 135,000 + 11.28 B x 0.0000133334 = 150,400.752 -> 385,400.952
    tiers = load_prices().lambda_.duration_tiers["x86_64"]
    assert tiered_cost(26.28e9, tiers) == pytest.approx(385_400.952)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["services"]["lambda"].pop("request_usd_per_million"),
         "services.lambda.request_usd_per_million: missing"),
        (lambda d: d["services"]["fargate"]["vcpu_usd_per_hour"].update(arm64=-1),
         "services.fargate.vcpu_usd_per_hour.arm64: expected a positive number"),
        (lambda d: d["services"]["alb"].update(usd_per_hour="0.0225"),
         "services.alb.usd_per_hour: expected a number"),
        (lambda d: d["services"]["eks"].update(read_on="23/11/2026"),
         "services.eks.read_on: expected a date as YYYY-MM-DD"),
        (lambda d: d["services"]["ec2"].update(source="aws.amazon.com/ec2/pricing"),
         "services.ec2.source: expected the https:// address"),
        (lambda d: d["services"]["http_api"]["request_usd_per_million"][0].update(up_to=None),
         "only the last tier may be unbounded"),
        (lambda d: d["services"]["http_api"]["request_usd_per_million"][1].update(up_to=1e9),
         "the last tier must be unbounded"),
        (lambda d: d["services"]["lambda"]["duration_usd_per_gb_second"]["x86_64"][1].update(
            up_to=1e9), "tier bounds must increase"),
        (lambda d: d["services"]["ec2"].update(t3_medium_baseline_per_vcpu=20),
         "expected a fraction between 0 and 1"),
        (lambda d: d.pop("services"), "services: missing"),
    ],
)  # fmt: skip
def test_invalid_price_file_names_the_bad_key(tmp_path, edit, message):
    data = copy.deepcopy(RAW)
    edit(data)
    with pytest.raises(PriceFileError, match=r"prices file .*prices\.json: ") as error:
        load_prices(write_prices(tmp_path, data))
    assert message in str(error.value)


def test_missing_and_malformed_price_files_are_reported(tmp_path):
    with pytest.raises(PriceFileError, match="cannot read it"):
        load_prices(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(PriceFileError, match="not valid JSON"):
        load_prices(broken)
    with pytest.raises(PriceFileError, match="top level: expected an object"):
        load_prices(write_prices(tmp_path, [1, 2]))


REFERENCE = {"rps": 100.0, "req_size_kb": 1.0, "mem_mb": 512, "duration_ms": 80.0}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("rps", -0.5, "must be zero or more"),
        ("rps", float("nan"), "must be a finite number"),
        ("rps", float("inf"), "must be a finite number"),
        ("req_size_kb", 0.0, "more than 0 and at most 6144 KB"),
        ("req_size_kb", 6144.5, "6 MB synchronous payload limit"),
        ("mem_mb", 127, "between 128 and 10240 MB"),
        ("mem_mb", 10241, "between 128 and 10240 MB"),
        ("mem_mb", 512.0, "must be a whole number"),
        ("duration_ms", 0.0, "more than 0 and at most 900000 ms"),
        ("duration_ms", 900_001.0, "900 s timeout"),
        ("arch", "sparc", "must be x86_64 or arm64"),
        ("provisioned_concurrency", 0, "must be at least 1"),
        ("min_instances", -1, "must be zero or more"),
        ("rps", True, "must be a number"),
    ],
)
def test_workload_rejects_out_of_range_values(field, value, reason):
    with pytest.raises(InvalidInput) as error:
        Workload(**{**REFERENCE, field: value})
    assert error.value.field == field
    assert reason in error.value.reason


def test_workload_accepts_the_limits_themselves():
    edge = Workload(rps=0.0, req_size_kb=6144.0, mem_mb=10_240, duration_ms=900_000.0)
    assert edge.mem_gb == 10.0
    assert Workload(rps=1.0, req_size_kb=0.001, mem_mb=128, duration_ms=0.5).mem_gb == 0.125


def test_workload_derives_month_day_and_concurrency():
    w = Workload(**REFERENCE)
    assert w.requests_per_month == 262_800_000  # 100 x 730 h x 3600 s
    assert w.requests_per_day == 8_640_000
    assert w.mean_concurrency == pytest.approx(8.0)  # 100 req/s x 0.08 s


def test_at_rate_keeps_the_shape_and_checks_only_the_rate():
    w = Workload(**REFERENCE, arch="arm64", free_tier=True, min_instances=3)
    moved = w.at_rate(2.5)
    assert moved == Workload(**{**REFERENCE, "rps": 2.5}, arch="arm64", free_tier=True,
                             min_instances=3)  # fmt: skip
    assert w.rps == 100.0
    for bad in (-1.0, float("nan")):
        with pytest.raises(InvalidInput):
            w.at_rate(bad)
