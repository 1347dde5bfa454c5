"""The Application Load Balancer in front of the container options, billed per hour and per LCU."""

from __future__ import annotations

from costing import fmt
from costing.prices import Prices
from costing.workload import HOURS_PER_MONTH, Workload

RESPONSE_KB = 1.0  # a prediction is a small JSON body
REQUESTS_PER_CONNECTION = 1  # pessimistic: clients open a new connection per request
LISTENER_RULES = 1  # one forward rule to the target group


def lcu_dimensions(workload: Workload, prices: Prices) -> dict[str, float]:
    """LCUs each dimension would need under steady traffic; the ALB bills the largest."""
    alb = prices.alb
    new_connections_per_s = workload.rps / REQUESTS_PER_CONNECTION
    # One connection per request stays open about as long as the request (Little's law).
    active_connections = workload.rps * workload.duration_s
    processed_gb_per_h = workload.rps * 3600 * (workload.req_size_kb + RESPONSE_KB) / 1024**2
    rule_evaluations_per_s = workload.rps * max(0, LISTENER_RULES - alb.free_rules)
    return {
        "new connections": new_connections_per_s / alb.lcu_new_connections_per_s,
        "active connections": active_connections / alb.lcu_active_connections_per_min,
        "processed bytes": processed_gb_per_h / alb.lcu_processed_gb_per_h,
        "rule evaluations": rule_evaluations_per_s / alb.lcu_rule_evaluations_per_s,
    }


def load_balancer_line_items(workload: Workload, prices: Prices) -> dict[str, float]:
    lcus = max(lcu_dimensions(workload, prices).values())
    return {
        "load_balancer": HOURS_PER_MONTH * prices.alb.usd_per_hour,
        "load_balancer_lcu": HOURS_PER_MONTH * lcus * prices.alb.lcu_usd_per_hour,
    }


def load_balancer_assumptions(workload: Workload, prices: Prices) -> list[str]:
    dimensions = lcu_dimensions(workload, prices)
    largest = max(dimensions, key=lambda name: dimensions[name])
    return [
        f"load_balancer: one ALB, {fmt.rate(prices.alb.usd_per_hour)}/h x 730 h",
        f"load_balancer_lcu: {fmt.num(dimensions[largest])} LCU every hour, set by {largest} "
        f"(LCUs per dimension: "
        + ", ".join(f"{name} {fmt.num(value)}" for name, value in dimensions.items())
        + f") at {fmt.rate(prices.alb.lcu_usd_per_hour)}/LCU-h. Assumes a new connection per "
        f"request (no keep-alive: the pessimistic case), {RESPONSE_KB:g} KB responses, "
        f"{LISTENER_RULES} listener rule (the first {prices.alb.free_rules} are free)",
    ]
