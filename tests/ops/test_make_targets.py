"""`make verify` and `make probe` pass the right target to the tools (dry runs: nothing runs)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import ROOT


def dry_run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "--dry-run", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        # Not the MAKEFLAGS of a `make test` this may run under: only what the test gives.
        env={**{k: v for k, v in os.environ.items() if "MAKE" not in k}, **(env or {})},
    )


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["verify", "URL=http://127.0.0.1:8080"], "-m ops.verify --url 'http://127.0.0.1:8080'"),
        (
            ["verify", "STACK=SklearnInference-dev", "ARGS=--json"],
            "-m ops.verify --stack 'SklearnInference-dev' --json",
        ),
        (
            ["probe", "PULUMI_STACK=dev", "ARGS=--requests 5"],
            "-m ops.probe --pulumi-stack 'dev' --requests 5",
        ),
        # One model of a deployment serving several
        (
            ["verify", "STACK=SklearnInference-prod", "MODEL=wine"],
            "-m ops.verify --stack 'SklearnInference-prod' --model 'wine'",
        ),
        (
            ["probe", "URL=https://x.example/models/wine", "MODEL=wine", "ARGS=--json"],
            "-m ops.probe --url 'https://x.example/models/wine' --model 'wine' --json",
        ),
    ],
)
def test_the_target_reaches_the_tool(argv: list[str], command: str) -> None:
    done = dry_run(*argv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].rstrip().endswith(command)


def test_a_pulumi_stack_wins_over_a_stack_inherited_through_makeflags() -> None:
    # release-gcp's recipe runs `make verify PULUMI_STACK=...` while its own STACK=... travels
    # in MAKEFLAGS: that must not turn into a CloudFormation stack as well.
    done = dry_run("verify", "PULUMI_STACK=dev", env={"MAKEFLAGS": "STACK=dev"})
    assert done.stdout.splitlines()[-1].rstrip().endswith("-m ops.verify --pulumi-stack 'dev'")


def test_the_default_gcp_stack_is_not_taken_for_an_aws_one() -> None:
    # STACK defaults to ENV (dev) for the GCP targets; verify must still ask for a target.
    done = dry_run("verify")
    assert done.returncode != 0
    assert (
        "give the deployment: URL=..., STACK=<CloudFormation stack> or PULUMI_STACK=" in done.stderr
    )
