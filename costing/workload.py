"""The workload being priced: one request shape at one mean request rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600  # 2,628,000
SECONDS_PER_DAY = 86_400

ARCHITECTURES = ("x86_64", "arm64")
LAMBDA_MEMORY_MB = (128, 10_240)
LAMBDA_TIMEOUT_MS = 900_000
LAMBDA_SYNC_PAYLOAD_KB = 6 * 1024  # 6 MB synchronous invocation payload


class InvalidInput(ValueError):
    """When a workload value is outside what the pricing models (or Lambda) accept"""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Workload:
    """A mean request rate and the shape of each request; KB and MB are binary (1 KB = 1024 B)."""

    rps: float
    req_size_kb: float
    mem_mb: int
    duration_ms: float
    arch: str = "x86_64"
    provisioned_concurrency: int = 2
    min_instances: int = 1
    free_tier: bool = False

    def __post_init__(self) -> None:
        _check_number("rps", self.rps)
        if self.rps < 0:
            raise InvalidInput("rps", f"must be zero or more, got {self.rps:g}")
        _check_number("req_size_kb", self.req_size_kb)
        if not 0 < self.req_size_kb <= LAMBDA_SYNC_PAYLOAD_KB:
            raise InvalidInput(
                "req_size_kb",
                f"must be more than 0 and at most {LAMBDA_SYNC_PAYLOAD_KB} KB "
                f"(Lambda's 6 MB synchronous payload limit), got {self.req_size_kb:g}",
            )
        _check_integer("mem_mb", self.mem_mb)
        low, high = LAMBDA_MEMORY_MB
        if not low <= self.mem_mb <= high:
            raise InvalidInput(
                "mem_mb", f"must be between {low} and {high} MB (Lambda's range), got {self.mem_mb}"
            )
        _check_number("duration_ms", self.duration_ms)
        if not 0 < self.duration_ms <= LAMBDA_TIMEOUT_MS:
            raise InvalidInput(
                "duration_ms",
                f"must be more than 0 and at most {LAMBDA_TIMEOUT_MS} ms "
                f"(Lambda's 900 s timeout), got {self.duration_ms:g}",
            )
        if self.arch not in ARCHITECTURES:
            choices = " or ".join(ARCHITECTURES)
            raise InvalidInput("arch", f"must be {choices}, got {self.arch!r}")
        _check_integer("provisioned_concurrency", self.provisioned_concurrency)
        if self.provisioned_concurrency < 1:
            raise InvalidInput(
                "provisioned_concurrency",
                f"must be at least 1 (lambda_on_demand is the option without it), "
                f"got {self.provisioned_concurrency}",
            )
        _check_integer("min_instances", self.min_instances)
        if self.min_instances < 0:
            raise InvalidInput("min_instances", f"must be zero or more, got {self.min_instances}")

    def at_rate(self, rps: float) -> Workload:
        """The same request shape at another mean rate.

        The break-even solver calls this thousands of times, so only the new rate is checked:
        the rest was validated when this workload was built.
        """
        _check_number("rps", rps)
        if rps < 0:
            raise InvalidInput("rps", f"must be zero or more, got {rps:g}")
        clone = object.__new__(Workload)
        vars(clone).update(vars(self), rps=rps)
        return clone

    @property
    def requests_per_month(self) -> float:
        return self.rps * SECONDS_PER_MONTH

    @property
    def requests_per_day(self) -> float:
        return self.rps * SECONDS_PER_DAY

    @property
    def duration_s(self) -> float:
        return self.duration_ms / 1000

    @property
    def mem_gb(self) -> float:
        """Memory in GB as Lambda bills it (MB / 1024)."""
        return self.mem_mb / 1024

    @property
    def mean_concurrency(self) -> float:
        """Requests in flight on average: rate x duration (Little's law)."""
        return self.rps * self.duration_s


def _check_number(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInput(field, f"must be a finite number, got {value}")


def _check_integer(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be a whole number, got {value!r}")
