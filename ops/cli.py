"""What `ops.verify` and `ops.probe` share on the command line: the target and auth options,
one-line errors, and the exit status 2 for anything that stops a command from running."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from model.catalog import CatalogError
from model.catalog import load as load_catalog
from ops.aws import describe_aws_error
from ops.errors import CannotRun
from ops.reference import DEFAULT_MODEL_DIR, ReferenceError

EXIT_PASSED, EXIT_FAILED, EXIT_CANNOT_RUN = 0, 1, 2


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage block) and exit status 2,
    and no option is read from an abbreviation (`--model` must never mean `--model-dir`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CANNOT_RUN, f"{self.prog}: error: {message} (see --help)\n")


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("target (exactly one)")
    which = target.add_mutually_exclusive_group(required=True)
    which.add_argument("--url", help="base URL of any deployment, e.g. http://127.0.0.1:8080")
    which.add_argument(
        "--stack", metavar="NAME", help="AWS: CloudFormation stack (reads ApiUrl, ApiAuth, ...)"
    )
    which.add_argument(
        "--pulumi-stack",
        metavar="NAME",
        help="GCP: Pulumi stack of pulumi_gcp/ (reads `pulumi stack output --json`)",
    )
    target.add_argument(
        "--model",
        metavar="NAME",
        help="one of the models of models.toml: compare with its artifacts and, on a deployment "
        "serving several, check that one (required there)",
    )
    target.add_argument(
        "--store",
        metavar="URI",
        help="a store model's folder, s3://<bucket>/models/<name> or gs://...: compare with the "
        "version its pointer names (default with --stack or --pulumi-stack: the deployment's "
        "ModelStore / model_store output, for a store model)",
    )
    auth = parser.add_argument_group("auth")
    auth.add_argument(
        "--id-token",
        metavar="TOKEN",
        help="bearer token: a Google identity token for a private function (default for a "
        "private --pulumi-stack: `gcloud auth print-identity-token`), or a JWT for auth=jwt",
    )
    auth.add_argument(
        "--sigv4",
        action="store_true",
        help="sign requests with AWS SigV4 (execute-api); automatic when ApiAuth is iam",
    )
    auth.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    auth.add_argument("--profile", help="AWS named profile (default: the AWS configuration's)")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        metavar="S",
        help="seconds to wait for each answer (default 30)",
    )
    output.add_argument(
        "--debug", action="store_true", help="show a traceback for an unexpected error"
    )


def local_artifacts(model: str | None, model_dir: Path | None = None) -> Path:
    """Where the manifest and golden reference to compare with are: `--model`'s artifacts as
    models.toml declares them, else `model_dir`, else the reference model's."""
    if model is None:
        return model_dir or DEFAULT_MODEL_DIR
    if model_dir is not None:
        raise CannotRun("--model and --model-dir exclude each other: --model reads models.toml")
    try:
        return load_catalog().get(model).artifacts
    except CatalogError as exc:
        raise CannotRun(str(exc)) from None


def run_cli(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    command: Callable[[argparse.Namespace], int],
) -> int:
    """Parse `argv` and run `command`; anything that stops it becomes one line on stderr (and
    a JSON error with --json) and exit status 2."""
    args = parser.parse_args(argv)
    prog, json_output, debug = parser.prog, args.json, args.debug
    try:
        return command(args)
    except KeyboardInterrupt:
        message = "interrupted"
    except (CannotRun, ReferenceError) as exc:
        message = str(exc)
    except Exception as exc:
        aws = describe_aws_error(exc)
        if aws is None and debug:
            raise
        message = aws or (
            f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(run again with --debug for the traceback)"
        )
    print(f"{prog}: error: {message}", file=sys.stderr)
    if json_output:
        print(json.dumps({"error": message, "exit_code": EXIT_CANNOT_RUN}))
    return EXIT_CANNOT_RUN


def positive_int(limit: int) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to `limit`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be from 1 to {limit}, got {value}")
        return value

    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value
