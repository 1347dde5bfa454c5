"""ECS on Fargate behind an ALB: enough tasks for the load at a utilisation target, at least two."""

from __future__ import annotations

import math

from costing import fmt
from costing.alb import load_balancer_assumptions, load_balancer_line_items
from costing.model import Option
from costing.prices import Prices
from costing.workload import HOURS_PER_MONTH, Workload

UTILISATION_TARGET = 0.6  # headroom for bursts and a lost task
MIN_TASKS = 2  # one per availability zone
BASE_TASK_MEMORY_GB = 2  # the smallest memory Fargate allows with 1 vCPU


def task_size(workload: Workload) -> tuple[float, int]:
    """(vCPU, GB) of one task: memory at least the function's, in a combination Fargate allows.

    Fargate pairs 1 vCPU with 2-8 GB and 2 vCPU with 4-16 GB, in 1 GB steps.
    """
    memory_gb = max(BASE_TASK_MEMORY_GB, math.ceil(workload.mem_mb / 1024))
    vcpu = 1.0 if memory_gb <= 8 else 2.0
    return vcpu, memory_gb


def requests_per_vcpu(workload: Workload) -> float:
    """A vCPU busy 100% of the time serves 1000 / duration_ms requests a second."""
    return 1000 / workload.duration_ms


def task_capacity_rps(workload: Workload) -> float:
    vcpu, _ = task_size(workload)
    return vcpu * requests_per_vcpu(workload) * UTILISATION_TARGET


def task_count(workload: Workload) -> int:
    # The tolerance keeps a rate exactly at a task's capacity from rounding up to one more task.
    needed = math.ceil(workload.rps / task_capacity_rps(workload) - 1e-9)
    return max(MIN_TASKS, needed)


def line_items(workload: Workload, prices: Prices) -> dict[str, float]:
    vcpu, memory_gb = task_size(workload)
    hourly = (
        vcpu * prices.fargate.vcpu_usd_per_hour[workload.arch]
        + memory_gb * prices.fargate.gb_usd_per_hour[workload.arch]
    )
    return {
        "compute": task_count(workload) * HOURS_PER_MONTH * hourly,
        **load_balancer_line_items(workload, prices),
    }


def assumptions(workload: Workload, prices: Prices) -> list[str]:
    vcpu, memory_gb = task_size(workload)
    return [
        f"task size {vcpu:g} vCPU / {memory_gb} GB, Linux {workload.arch}: memory at least the "
        f"function's {workload.mem_mb} MB, in a vCPU/memory pair Fargate offers",
        f"per-task capacity {fmt.num(task_capacity_rps(workload))} req/s = {vcpu:g} vCPU x "
        f"{fmt.num(requests_per_vcpu(workload))} req/s per vCPU at 100% busy (1000 / "
        f"{workload.duration_ms:g} ms, treating the whole duration as CPU time) x "
        f"{UTILISATION_TARGET:.0%} utilisation target",
        f"compute: {task_count(workload)} tasks = max({MIN_TASKS} for availability, "
        f"ceil({fmt.num(workload.rps)} / {fmt.num(task_capacity_rps(workload))})) x 730 h at "
        f"{fmt.rate(prices.fargate.vcpu_usd_per_hour[workload.arch])}/vCPU-h and "
        f"{fmt.rate(prices.fargate.gb_usd_per_hour[workload.arch])}/GB-h",
        *load_balancer_assumptions(workload, prices),
        "not included: data transfer out, NAT gateway, public IPv4, CloudWatch Logs, ECR storage",
    ]


def step_width(workload: Workload, prices: Prices) -> float | None:
    return task_capacity_rps(workload)


FARGATE = Option(
    name="fargate",
    cloud="aws",
    line_items=line_items,
    assumptions=assumptions,
    step_width=step_width,
)
