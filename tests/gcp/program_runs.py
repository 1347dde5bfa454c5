"""Mock runs of the Pulumi GCP program and the graphs they register, for tests/gcp.

Two kinds of run. The tests' own: stack settings (STACK_SETTINGS) and a models.toml these tests
write themselves, in a Pulumi project of their own (TEST_PROJECT_NAME): every test of behaviour,
default and edge case runs on them, so nothing a fork changes can move them. And the live one
(`run_harness(PROGRAM_DIR / "Pulumi.<stack>.yaml")`): this repository's Pulumi.yaml, stack file,
models.toml and model directories as they are, which only test_gcp_snapshot.py compares with
fixed values and test_gcp_live_stacks.py checks against what those files say.

Each program run is a separate process (tests/gcp/harness.py), which keeps Pulumi's process-wide
runtime state of one stack away from the next, and runs the program exactly as Pulumi does.

A module of its own (not conftest.py): tests import from it by name, and `conftest` is also
tests/ops's when both folders are collected in one run.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM_DIR = REPO_ROOT / "pulumi_gcp"
HARNESS = Path(__file__).resolve().parent / "harness.py"
STACKS = ("dev", "prod")
GCP_PROJECT = "acme-ml-test"  # gcp:project in every run (the mocks derive e-mails from it)
# The Pulumi project of the tests' own runs: not this repository's (Pulumi.yaml `name:`, which a
# fork renames), so a program that read its keys from a fixed namespace would fail here.
TEST_PROJECT_NAME = "inference-test"
# The tests' own stack settings, as `pulumi config set` stores them (strings).
STACK_SETTINGS = {
    "dev": {
        "gcp:region": "us-central1",
        "minInstances": "0",
        "maxInstances": "3",
        "public": "false",
        "logLevel": "DEBUG",
        "deletionProtection": "false",
    },
    "prod": {
        "gcp:region": "us-central1",
        "minInstances": "1",
        "maxInstances": "20",
        "public": "false",
        "invokers": "[]",
    },
}


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str
    dependencies: list[str]
    aliases: list[dict[str, str]]
    custom: bool
    protect: bool
    retain_on_delete: bool
    id: str
    state: dict[str, Any]


@dataclass(frozen=True)
class Graph:
    """What one program run registered, its stack outputs, and what it ran with."""

    project: str
    stack: str
    config: dict[str, str]
    resources: list[Resource]
    outputs: dict[str, Any]

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Resource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.urn for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Resource:
        return next(r for r in self.resources if r.urn == urn)


def write_fake_root(root: Path, *, handler_code: str = "VALUE = 1\n") -> Path:
    """A minimal tree with everything gcf_source_files() lists (not a working handler), and a
    models.toml of its own declaring its one model, the primary in model/."""
    (root / "handler").mkdir(parents=True, exist_ok=True)
    (root / "model" / "artifacts").mkdir(parents=True, exist_ok=True)
    (root / "model" / "train.py").write_text("SPEC = None  # never trained: artifacts are fake\n")
    (root / "models.toml").write_text('[models.iris]\npath = "model"\n')
    (root / "main.py").write_text("from handler.gcp import predict  # noqa: F401\n")
    (root / "handler" / "requirements").mkdir()
    (root / "handler" / "requirements" / "gcp.txt").write_text("numpy==2.4.6\n")
    (root / "handler" / "__init__.py").write_text("")
    (root / "handler" / "core.py").write_text(handler_code)
    write_fake_model(root, b"\x08\x07fake-onnx")
    return root


def write_fake_model(root: Path, onnx: bytes) -> None:
    """A fake model.onnx and a manifest that vouches for it, as `make train` would write them
    (the bundle refuses an artifact its manifest does not vouch for)."""
    artifacts = root / "model" / "artifacts"
    (artifacts / "model.onnx").write_bytes(onnx)
    entry = {"file": "model.onnx", "bytes": len(onnx), "sha256": hashlib.sha256(onnx).hexdigest()}
    manifest = {"name": "fake", "version": "0", "feature_names": ["x"], "class_names": ["a", "b"]}
    manifest["runtime"] = {"onnxruntime": "1.32.0"}
    (artifacts / "manifest.json").write_text(json.dumps({**manifest, "artifacts": {"onnx": entry}}))
    # The golden predictions training writes (not shipped): the outputs' curl sends their row.
    (artifacts / "reference.json").write_text(json.dumps({"cases": [{"features": [1.5]}]}))


def run_harness(*argv: str | Path) -> subprocess.CompletedProcess:
    """tests/gcp/harness.py with these arguments: a stack file and overrides, or a run.json."""
    return subprocess.run(
        [sys.executable, str(HARNESS), *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_own(stack: str, values: dict[str, str]) -> subprocess.CompletedProcess:
    """The program in the tests' own project, stack `stack`, with config `values`."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as run:
        json.dump({"project": TEST_PROJECT_NAME, "stack": stack, "config": values}, run)
        run.flush()
        return run_harness(run.name)


def own_config(stack: str, overrides: tuple[str, ...], models: Path) -> dict[str, str]:
    """The tests' own settings for `stack` serving `models`, plus key=value overrides (`key=`
    removes the key: the program's default applies)."""
    values = {"gcp:project": GCP_PROJECT, "modelsFile": str(models), **STACK_SETTINGS[stack]}
    for override in overrides:
        key, _, value = override.partition("=")
        if value:
            values[key] = value
        else:
            values.pop(key, None)
    return {key if ":" in key else f"{TEST_PROJECT_NAME}:{key}": v for key, v in values.items()}


def as_graph(completed: subprocess.CompletedProcess) -> Graph:
    assert completed.returncode == 0, f"program run failed:\n{completed.stderr[-4000:]}"
    data = json.loads(completed.stdout)
    resources = [Resource(**r) for r in data.pop("resources")]
    return Graph(resources=resources, **data)


Program = Callable[..., Graph]
