#!/usr/bin/env python3
"""What serving the model costs per month on each platform, and where the cost lines cross.

    python cost_analysis.py --req-per-second-mean 100 --req-size-kb 1 --mem-mb 512 --duration-ms 80

A thin shell over the `costing` package: parse the arguments, run the analysis, print it.
Invalid input ends with one line on stderr and exit status 2; a plot that cannot be written, 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from costing.analysis import analyse
from costing.prices import PriceFileError, load_prices
from costing.report import render_text, to_json
from costing.workload import ARCHITECTURES, InvalidInput, Workload

FLAGS = {
    "rps": "--req-per-second-mean",
    "req_size_kb": "--req-size-kb",
    "mem_mb": "--mem-mb",
    "duration_ms": "--duration-ms",
    "arch": "--arch",
    "provisioned_concurrency": "--provisioned-concurrency",
    "min_instances": "--min-instances",
}


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(
        prog="cost_analysis.py",
        description="Monthly cost of serving the model on Lambda (on demand and provisioned), "
        "Fargate, EKS and Cloud Functions 2nd gen, and the request rates where they cross.",
        epilog="Prices come from a dated file (costing/prices.json); they are not live prices.",
    )
    workload = parser.add_argument_group("workload")
    workload.add_argument(
        "--req-per-second-mean",
        type=float,
        required=True,
        metavar="RPS",
        help="mean request rate, requests per second (0 or more)",
    )
    workload.add_argument(
        "--req-size-kb",
        type=float,
        required=True,
        metavar="KB",
        help="request size in KB (above 0, at most 6144: Lambda's 6 MB limit)",
    )
    workload.add_argument(
        "--mem-mb",
        type=int,
        required=True,
        metavar="MB",
        help="function memory in MB (128 to 10240, Lambda's range)",
    )
    workload.add_argument(
        "--duration-ms",
        type=float,
        required=True,
        metavar="MS",
        help="time to serve one request in ms (above 0, at most 900000)",
    )
    workload.add_argument(
        "--provisioned-concurrency",
        type=int,
        default=2,
        metavar="N",
        help="Lambda provisioned concurrency for lambda_provisioned (default 2)",
    )
    workload.add_argument(
        "--min-instances",
        type=int,
        default=1,
        metavar="N",
        help="Cloud Functions minimum instances (default 1)",
    )
    workload.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        default="x86_64",
        help="Lambda and Fargate architecture (default x86_64)",
    )
    workload.add_argument(
        "--free-tier",
        action="store_true",
        help="apply the always-free allowances (off: most production accounts have used them up)",
    )
    output = parser.add_argument_group("prices and output")
    output.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="price file to use instead of costing/prices.json",
    )
    output.add_argument("--json", action="store_true", help="print JSON instead of text")
    output.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="also draw the cost curves to this PNG (needs matplotlib)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        workload = Workload(
            rps=args.req_per_second_mean,
            req_size_kb=args.req_size_kb,
            mem_mb=args.mem_mb,
            duration_ms=args.duration_ms,
            arch=args.arch,
            provisioned_concurrency=args.provisioned_concurrency,
            min_instances=args.min_instances,
            free_tier=args.free_tier,
        )
    except InvalidInput as error:
        parser.error(f"argument {FLAGS[error.field]}: {error.reason}")
    if args.plot is not None:
        _check_plot_path(parser, args.plot)
    try:
        prices = load_prices(args.prices)
    except PriceFileError as error:
        parser.error(str(error))

    analysis = analyse(workload, prices)
    if args.plot is not None:
        from costing.plot import PlotError, write_plot

        try:
            write_plot(analysis, args.plot)
        except PlotError as error:
            print(f"{parser.prog}: error: {error}", file=sys.stderr)
            return 1
    if args.json:
        document = to_json(analysis)
        document["plot"] = None if args.plot is None else str(args.plot)
        print(json.dumps(document, indent=2))
    else:
        sys.stdout.write(render_text(analysis))
        if args.plot is not None:
            print(f"\nPlot written to {args.plot}")
    return 0


def _check_plot_path(parser: OneLineErrorParser, path: Path) -> None:
    if path.suffix.lower() != ".png":
        parser.error(f"argument --plot: must name a .png file, got {str(path)!r}")
    if not path.parent.is_dir():
        parser.error(f"argument --plot: directory {str(path.parent)!r} does not exist")


if __name__ == "__main__":
    sys.exit(main())
