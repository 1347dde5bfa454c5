"""Load and validate the price file; apply tiered prices."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costing.workload import ARCHITECTURES

DEFAULT_PRICE_FILE = Path(__file__).parent / "prices.json"


class PriceFileError(ValueError):
    """When the price file is missing, is not JSON, or lacks a valid price"""


@dataclass(frozen=True)
class Tier:
    """A price for the quantity up to `up_to` (cumulative); None means no upper bound."""

    up_to: float | None
    usd: float


@dataclass(frozen=True)
class Source:
    url: str
    read_on: dt.date


@dataclass(frozen=True)
class LambdaPrices:
    request_usd_per_million: float
    duration_tiers: Mapping[str, tuple[Tier, ...]]
    provisioned_usd_per_gb_s: Mapping[str, float]
    provisioned_duration_usd_per_gb_s: Mapping[str, float]
    free_requests: float
    free_gb_s: float
    source: Source


@dataclass(frozen=True)
class HttpApiPrices:
    request_tiers_per_million: tuple[Tier, ...]
    request_tiers: tuple[Tier, ...]  # the same, priced per request
    metering_increment_kb: float
    source: Source


@dataclass(frozen=True)
class FargatePrices:
    vcpu_usd_per_hour: Mapping[str, float]
    gb_usd_per_hour: Mapping[str, float]
    source: Source


@dataclass(frozen=True)
class AlbPrices:
    usd_per_hour: float
    lcu_usd_per_hour: float
    lcu_new_connections_per_s: float
    lcu_active_connections_per_min: float
    lcu_processed_gb_per_h: float
    lcu_rule_evaluations_per_s: float
    free_rules: int
    source: Source


@dataclass(frozen=True)
class Ec2Prices:
    t3_medium_usd_per_hour: float
    t3_medium_vcpus: int
    t3_medium_baseline_per_vcpu: float
    t3_surplus_usd_per_vcpu_hour: float
    source: Source


@dataclass(frozen=True)
class EksPrices:
    cluster_usd_per_hour: float
    source: Source


@dataclass(frozen=True)
class CloudRunPrices:
    request_usd_per_million: float
    vcpu_usd_per_s: float
    gib_usd_per_s: float
    idle_vcpu_usd_per_s: float
    idle_gib_usd_per_s: float
    billing_increment_ms: float
    free_requests: float
    free_vcpu_s: float
    free_gib_s: float
    source: Source


@dataclass(frozen=True)
class Prices:
    lambda_: LambdaPrices
    http_api: HttpApiPrices
    fargate: FargatePrices
    alb: AlbPrices
    ec2: Ec2Prices
    eks: EksPrices
    cloud_run: CloudRunPrices
    aws_region: str
    gcp_region: str
    path: Path

    @property
    def sources(self) -> dict[str, Source]:
        return {
            "lambda": self.lambda_.source,
            "http_api": self.http_api.source,
            "fargate": self.fargate.source,
            "alb": self.alb.source,
            "ec2": self.ec2.source,
            "eks": self.eks.source,
            "cloud_run": self.cloud_run.source,
        }

    @property
    def read_on(self) -> dt.date:
        """The oldest date any price was read: what the whole table is as fresh as."""
        return min(source.read_on for source in self.sources.values())


def tiered_cost(quantity: float, tiers: Sequence[Tier]) -> float:
    """Price `quantity` tier by tier, each tier's price applying only to the part inside it."""
    cost = 0.0
    floor = 0.0
    for tier in tiers:
        ceiling = math.inf if tier.up_to is None else tier.up_to
        if quantity <= floor:
            break
        cost += (min(quantity, ceiling) - floor) * tier.usd
        floor = ceiling
    return cost


def load_prices(path: Path | str | None = None) -> Prices:
    """Read and validate a price file (default: the one next to this module)."""
    path = Path(path) if path is not None else DEFAULT_PRICE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PriceFileError(f"prices file {path}: cannot read it ({error.strerror})") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PriceFileError(f"prices file {path}: not valid JSON ({error})") from error
    root = _Reader(data, str(path), "")
    services = root.obj("services")
    return Prices(
        lambda_=_lambda(services.obj("lambda")),
        http_api=_http_api(services.obj("http_api")),
        fargate=_fargate(services.obj("fargate")),
        alb=_alb(services.obj("alb")),
        ec2=_ec2(services.obj("ec2")),
        eks=_eks(services.obj("eks")),
        cloud_run=_cloud_run(services.obj("cloud_run")),
        aws_region=root.text("aws_region"),
        gcp_region=root.text("gcp_region"),
        path=path,
    )


def _lambda(r: _Reader) -> LambdaPrices:
    free = r.obj("free_tier")
    return LambdaPrices(
        request_usd_per_million=r.number("request_usd_per_million"),
        duration_tiers=r.obj("duration_usd_per_gb_second").per_arch(_Reader.tiers),
        provisioned_usd_per_gb_s=r.obj("provisioned_concurrency_usd_per_gb_second").per_arch(
            _Reader.number
        ),
        provisioned_duration_usd_per_gb_s=r.obj("provisioned_duration_usd_per_gb_second").per_arch(
            _Reader.number
        ),
        free_requests=free.number("requests", allow_zero=True),
        free_gb_s=free.number("gb_seconds", allow_zero=True),
        source=_source(r),
    )


def _http_api(r: _Reader) -> HttpApiPrices:
    per_million = r.tiers("request_usd_per_million")
    return HttpApiPrices(
        request_tiers_per_million=per_million,
        request_tiers=tuple(Tier(tier.up_to, tier.usd / 1e6) for tier in per_million),
        metering_increment_kb=r.number("metering_increment_kb"),
        source=_source(r),
    )


def _fargate(r: _Reader) -> FargatePrices:
    return FargatePrices(
        vcpu_usd_per_hour=r.obj("vcpu_usd_per_hour").per_arch(_Reader.number),
        gb_usd_per_hour=r.obj("gb_usd_per_hour").per_arch(_Reader.number),
        source=_source(r),
    )


def _alb(r: _Reader) -> AlbPrices:
    lcu = r.obj("lcu")
    return AlbPrices(
        usd_per_hour=r.number("usd_per_hour"),
        lcu_usd_per_hour=r.number("lcu_usd_per_hour"),
        lcu_new_connections_per_s=lcu.number("new_connections_per_second"),
        lcu_active_connections_per_min=lcu.number("active_connections_per_minute"),
        lcu_processed_gb_per_h=lcu.number("processed_gb_per_hour"),
        lcu_rule_evaluations_per_s=lcu.number("rule_evaluations_per_second"),
        free_rules=int(lcu.number("free_rules", allow_zero=True)),
        source=_source(r),
    )


def _ec2(r: _Reader) -> Ec2Prices:
    baseline = r.number("t3_medium_baseline_per_vcpu")
    if baseline > 1:
        raise r.error("t3_medium_baseline_per_vcpu", "expected a fraction between 0 and 1")
    return Ec2Prices(
        t3_medium_usd_per_hour=r.number("t3_medium_usd_per_hour"),
        t3_medium_vcpus=int(r.number("t3_medium_vcpus")),
        t3_medium_baseline_per_vcpu=baseline,
        t3_surplus_usd_per_vcpu_hour=r.number("t3_unlimited_surplus_usd_per_vcpu_hour"),
        source=_source(r),
    )


def _eks(r: _Reader) -> EksPrices:
    return EksPrices(cluster_usd_per_hour=r.number("cluster_usd_per_hour"), source=_source(r))


def _cloud_run(r: _Reader) -> CloudRunPrices:
    free = r.obj("free_tier")
    return CloudRunPrices(
        request_usd_per_million=r.number("request_usd_per_million"),
        vcpu_usd_per_s=r.number("vcpu_usd_per_second"),
        gib_usd_per_s=r.number("gib_usd_per_second"),
        idle_vcpu_usd_per_s=r.number("idle_vcpu_usd_per_second", allow_zero=True),
        idle_gib_usd_per_s=r.number("idle_gib_usd_per_second", allow_zero=True),
        billing_increment_ms=r.number("billing_increment_ms"),
        free_requests=free.number("requests", allow_zero=True),
        free_vcpu_s=free.number("vcpu_seconds", allow_zero=True),
        free_gib_s=free.number("gib_seconds", allow_zero=True),
        source=_source(r),
    )


def _source(r: _Reader) -> Source:
    url = r.text("source")
    if not url.startswith("https://"):
        raise r.error("source", "expected the https:// address of the pricing page")
    return Source(url=url, read_on=r.date("read_on"))


class _Reader:
    """Typed access to one JSON object, naming the key path in every error."""

    def __init__(self, data: Any, file: str, where: str) -> None:
        if not isinstance(data, dict):
            raise PriceFileError(f"prices file {file}: {where or 'top level'}: expected an object")
        self.data = data
        self.file = file
        self.where = where

    def error(self, key: str, problem: str) -> PriceFileError:
        return PriceFileError(f"prices file {self.file}: {self._path(key)}: {problem}")

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise self.error(key, "missing")
        return self.data[key]

    def obj(self, key: str) -> _Reader:
        value = self._get(key)
        if not isinstance(value, dict):
            raise self.error(key, "expected an object")
        return _Reader(value, self.file, self._path(key))

    def number(self, key: str, *, allow_zero: bool = False) -> float:
        value = self._get(key)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or not math.isfinite(value):
            raise self.error(key, f"expected a number, got {value!r}")
        if value < 0 or (value == 0 and not allow_zero):
            kind = "non-negative" if allow_zero else "positive"
            raise self.error(key, f"expected a {kind} number, got {value!r}")
        return float(value)

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value:
            raise self.error(key, "expected a non-empty string")
        return value

    def date(self, key: str) -> dt.date:
        value = self.text(key)
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.error(key, f"expected a date as YYYY-MM-DD, got {value!r}") from None

    def tiers(self, key: str) -> tuple[Tier, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not value:
            raise self.error(key, "expected a non-empty list of tiers")
        tiers = []
        previous = 0.0
        for index, item in enumerate(value):
            tier = _Reader(item, self.file, f"{self._path(key)}[{index}]")
            usd = tier.number("usd")
            up_to = tier._get("up_to")
            last = index == len(value) - 1
            if up_to is None:
                if not last:
                    raise tier.error("up_to", "only the last tier may be unbounded (null)")
                tiers.append(Tier(None, usd))
                continue
            if last:
                raise tier.error("up_to", "the last tier must be unbounded (null)")
            bound = tier.number("up_to")
            if bound <= previous:
                raise tier.error("up_to", "tier bounds must increase")
            previous = bound
            tiers.append(Tier(bound, usd))
        return tuple(tiers)

    def per_arch(self, read: Any) -> dict[str, Any]:
        return {arch: read(self, arch) for arch in ARCHITECTURES}
