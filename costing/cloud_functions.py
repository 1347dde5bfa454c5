"""Cloud Functions 2nd gen (Cloud Run request-based billing) with a warm minimum of instances."""

from __future__ import annotations

import math

from costing import fmt
from costing.model import Option
from costing.prices import Prices
from costing.workload import SECONDS_PER_MONTH, Workload

# The CPU a 2nd gen function gets for its memory unless --cpu overrides it:
# https://cloud.google.com/functions/docs/configuring/memory (MiB, vCPU).
CPU_BY_MEMORY_MIB = (
    (128, 0.083),
    (256, 0.167),
    (512, 0.333),
    (1024, 0.583),
    (2048, 1.0),
    (4096, 2.0),
    (8192, 2.0),
    (16384, 4.0),
    (32768, 8.0),
)


def instance_cpu(workload: Workload) -> tuple[int, float]:
    """(memory tier in MiB, vCPU): the smallest documented tier that holds the memory."""
    for tier_mib, vcpu in CPU_BY_MEMORY_MIB:
        if workload.mem_mb <= tier_mib:
            return tier_mib, vcpu
    raise ValueError(f"no Cloud Functions memory tier holds {workload.mem_mb} MiB")


def billed_seconds_per_request(workload: Workload, prices: Prices) -> float:
    """Each request's time rounded up to the billing increment (100 ms)."""
    increment = prices.cloud_run.billing_increment_ms
    return math.ceil(workload.duration_ms / increment - 1e-9) * increment / 1000


def busy_instances(workload: Workload, prices: Prices) -> float:
    """Instances serving on average, one request each (concurrency 1)."""
    return workload.rps * billed_seconds_per_request(workload, prices)


def serving_usage(workload: Workload, prices: Prices) -> tuple[float, float, float]:
    """(requests, vCPU-s, GiB-s) a month that are billed, after the free tier if applied."""
    run = prices.cloud_run
    _, vcpu = instance_cpu(workload)
    instance_seconds = workload.requests_per_month * billed_seconds_per_request(workload, prices)
    requests = workload.requests_per_month
    vcpu_s = instance_seconds * vcpu
    gib_s = instance_seconds * workload.mem_mb / 1024
    if workload.free_tier:
        requests = max(0.0, requests - run.free_requests)
        vcpu_s = max(0.0, vcpu_s - run.free_vcpu_s)
        gib_s = max(0.0, gib_s - run.free_gib_s)
    return requests, vcpu_s, gib_s


def idle_instances(workload: Workload, prices: Prices) -> float:
    """Warm-minimum instances not serving, on average: the minimum serves traffic first."""
    return max(0.0, workload.min_instances - busy_instances(workload, prices))


def line_items(workload: Workload, prices: Prices) -> dict[str, float]:
    run = prices.cloud_run
    _, vcpu = instance_cpu(workload)
    requests, vcpu_s, gib_s = serving_usage(workload, prices)
    idle_rate = vcpu * run.idle_vcpu_usd_per_s + workload.mem_mb / 1024 * run.idle_gib_usd_per_s
    return {
        "requests": requests * run.request_usd_per_million / 1e6,
        "compute": vcpu_s * run.vcpu_usd_per_s + gib_s * run.gib_usd_per_s,
        "idle": idle_instances(workload, prices) * SECONDS_PER_MONTH * idle_rate,
    }


def assumptions(workload: Workload, prices: Prices) -> list[str]:
    run = prices.cloud_run
    tier_mib, vcpu = instance_cpu(workload)
    requests, vcpu_s, gib_s = serving_usage(workload, prices)
    billed_ms = billed_seconds_per_request(workload, prices) * 1000
    free = (
        f"after the free tier ({run.free_requests:,.0f} requests, {run.free_vcpu_s:,.0f} vCPU-s, "
        f"{run.free_gib_s:,.0f} GiB-s a month; it is not set against idle time)"
        if workload.free_tier
        else "free tier not applied (--free-tier applies it)"
    )
    return [
        f"instance: {workload.mem_mb} MiB gets {vcpu:g} vCPU, the documented default CPU of the "
        f"{tier_mib} MiB tier; concurrency 1 per instance, as on Lambda (functions below 1 vCPU "
        "must use 1)",
        f"compute: request-based billing, each request billed {billed_ms:g} ms (its "
        f"{workload.duration_ms:g} ms rounded up to {run.billing_increment_ms:g} ms): "
        f"{vcpu_s:,.0f} vCPU-s at {fmt.rate(run.vcpu_usd_per_s)}/vCPU-s and {gib_s:,.0f} GiB-s at "
        f"{fmt.rate(run.gib_usd_per_s)}/GiB-s, {free}",
        f"requests: {requests:,.0f} billed at ${run.request_usd_per_million:.2f}/M",
        f"idle: min instances {workload.min_instances}, "
        f"{fmt.num(busy_instances(workload, prices))} busy on average, so "
        f"{fmt.num(idle_instances(workload, prices))} idle x 730 h at "
        f"{fmt.rate(run.idle_vcpu_usd_per_s)}/vCPU-s and {fmt.rate(run.idle_gib_usd_per_s)}/GiB-s",
        f"no gateway: the function's own HTTPS endpoint; {prices.gcp_region} (Tier 1) prices; "
        "not included: Cloud Build, Artifact Registry, data transfer out",
    ]


CLOUD_FUNCTIONS = Option(
    name="cloud_functions",
    cloud="gcp",
    line_items=line_items,
    assumptions=assumptions,
)
