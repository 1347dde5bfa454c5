"""Every option the tool prices, in the order the report lists them."""

from __future__ import annotations

from costing.aws_lambda import LAMBDA_ON_DEMAND, LAMBDA_PROVISIONED
from costing.cloud_functions import CLOUD_FUNCTIONS
from costing.fargate import FARGATE
from costing.kubernetes import KUBERNETES
from costing.model import Option, Quote
from costing.prices import Prices
from costing.workload import Workload

OPTIONS: tuple[Option, ...] = (
    LAMBDA_ON_DEMAND,
    LAMBDA_PROVISIONED,
    FARGATE,
    KUBERNETES,
    CLOUD_FUNCTIONS,
)
BASELINE = LAMBDA_ON_DEMAND


def quote_all(workload: Workload, prices: Prices) -> tuple[Quote, ...]:
    return tuple(option.quote(workload, prices) for option in OPTIONS)
