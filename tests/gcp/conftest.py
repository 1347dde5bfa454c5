"""Fixtures for the Pulumi GCP program's tests: a fake source tree and mock runs of the program
on the tests' own settings and on this repository's files (program_runs.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from program_runs import (
    PROGRAM_DIR,
    STACKS,
    Graph,
    Program,
    as_graph,
    own_config,
    run_harness,
    run_own,
    write_fake_root,
)


@pytest.fixture(scope="session")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_root(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="session")
def program(fake_root: Path) -> Program:
    """program(stack, *overrides, models=<models.toml>): a run of the tests' own settings for
    `stack` (STACK_SETTINGS) with `key=value` overrides, serving `models` (default: the fake
    tree's one model)."""

    def run(stack: str, *overrides: str, models: Path | None = None) -> Graph:
        return as_graph(
            run_own(stack, own_config(stack, overrides, models or fake_root / "models.toml"))
        )

    return run


@pytest.fixture(scope="session")
def refusal(fake_root: Path) -> Callable[..., list[str]]:
    """refusal(stack, *overrides, models=...): the lines a run the program refuses prints, as
    `pulumi preview` would show them; fails unless it stops with a RunError (no traceback)."""

    def run(stack: str, *overrides: str, models: Path | None = None) -> list[str]:
        completed = run_own(
            stack, own_config(stack, overrides, models or fake_root / "models.toml")
        )
        assert completed.returncode == 1, completed.stdout[-2000:] + completed.stderr[-4000:]
        assert "Traceback" not in completed.stderr, completed.stderr[-4000:]
        return completed.stderr.splitlines()

    return run


@pytest.fixture(scope="session")
def graphs(program: Program) -> dict[str, Graph]:
    """One program run per stack of the tests' own settings, from the same fake source tree."""
    return {stack: program(stack) for stack in STACKS}


@pytest.fixture(scope="session")
def live_graphs() -> dict[str, Graph]:
    """One program run per stack file of this repository as it is, as `pulumi preview` runs it:
    its Pulumi project, Pulumi.<stack>.yaml, models.toml and models."""
    return {stack: as_graph(run_harness(PROGRAM_DIR / f"Pulumi.{stack}.yaml")) for stack in STACKS}
