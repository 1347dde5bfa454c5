"""EKS with one model pod per t3.medium node (at least three), control plane and an ALB."""

from __future__ import annotations

import math

from costing import fmt
from costing.alb import load_balancer_assumptions, load_balancer_line_items
from costing.fargate import UTILISATION_TARGET, requests_per_vcpu
from costing.model import Option
from costing.prices import Prices
from costing.workload import HOURS_PER_MONTH, Workload

MIN_NODES = 3  # three pods, one per node, as the issue specifies
NODE_ALLOCATABLE_MB = 3300  # t3.medium has 4 GiB; EKS reserves about 0.7 GiB for kubelet and OS


def node_capacity_rps(workload: Workload, prices: Prices) -> float:
    return prices.ec2.t3_medium_vcpus * requests_per_vcpu(workload) * UTILISATION_TARGET


def node_count(workload: Workload, prices: Prices) -> int:
    needed = math.ceil(workload.rps / node_capacity_rps(workload, prices) - 1e-9)
    return max(MIN_NODES, needed)


def surplus_vcpus(workload: Workload, prices: Prices) -> float:
    """vCPUs of sustained demand above the nodes' burstable baseline (billed as surplus credits)."""
    ec2 = prices.ec2
    demand = workload.rps * workload.duration_s
    baseline = node_count(workload, prices) * ec2.t3_medium_vcpus * ec2.t3_medium_baseline_per_vcpu
    return max(0.0, demand - baseline)


def line_items(workload: Workload, prices: Prices) -> dict[str, float]:
    ec2 = prices.ec2
    return {
        "nodes": node_count(workload, prices) * HOURS_PER_MONTH * ec2.t3_medium_usd_per_hour,
        "cpu_credits": surplus_vcpus(workload, prices)
        * HOURS_PER_MONTH
        * ec2.t3_surplus_usd_per_vcpu_hour,
        "control_plane": HOURS_PER_MONTH * prices.eks.cluster_usd_per_hour,
        **load_balancer_line_items(workload, prices),
    }


def assumptions(workload: Workload, prices: Prices) -> list[str]:
    ec2 = prices.ec2
    nodes = node_count(workload, prices)
    capacity = node_capacity_rps(workload, prices)
    lines = [
        f"nodes: {nodes} x t3.medium ({ec2.t3_medium_vcpus} vCPU, 4 GiB) on demand at "
        f"{fmt.rate(ec2.t3_medium_usd_per_hour)}/h, one model pod per node: max({MIN_NODES}, "
        f"ceil({fmt.num(workload.rps)} / {fmt.num(capacity)})); per-node capacity "
        f"{fmt.num(capacity)} req/s = "
        f"{ec2.t3_medium_vcpus} vCPU x {fmt.num(requests_per_vcpu(workload))} req/s per vCPU x "
        f"{UTILISATION_TARGET:.0%} target",
        f"cpu_credits: t3 is burstable and starts in Unlimited mode; a CPU demand of "
        f"{fmt.num(workload.rps * workload.duration_s)} vCPU against a baseline of "
        f"{fmt.num(nodes * ec2.t3_medium_vcpus * ec2.t3_medium_baseline_per_vcpu)} vCPU "
        f"({ec2.t3_medium_baseline_per_vcpu:.0%} of each vCPU) leaves "
        f"{fmt.num(surplus_vcpus(workload, prices))} vCPU of surplus at "
        f"{fmt.rate(ec2.t3_surplus_usd_per_vcpu_hour)}/vCPU-h",
        f"control_plane: EKS standard support {fmt.rate(prices.eks.cluster_usd_per_hour)}/h "
        "x 730 h",
        *load_balancer_assumptions(workload, prices),
        "the ALB comes from the AWS Load Balancer Controller; not included: EBS root volumes, "
        "NAT gateway, data transfer out, system pods' share of the nodes",
    ]
    if workload.mem_mb > NODE_ALLOCATABLE_MB:
        lines.append(
            f"warning: a {workload.mem_mb} MB pod does not fit the about "
            f"{NODE_ALLOCATABLE_MB} MB a t3.medium node can allocate; use a larger node type"
        )
    return lines


def step_width(workload: Workload, prices: Prices) -> float | None:
    return node_capacity_rps(workload, prices)


KUBERNETES = Option(
    name="kubernetes",
    cloud="aws",
    line_items=line_items,
    assumptions=assumptions,
    step_width=step_width,
)
