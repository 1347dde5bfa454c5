"""Fixtures for the Pulumi GCP program: fake source trees and mock runs of each example stack.

Each program run is a separate process (tests/gcp/harness.py), which keeps Pulumi's process-wide
runtime state of one stack away from the next, and runs the program exactly as Pulumi does.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM_DIR = REPO_ROOT / "pulumi_gcp"
HARNESS = Path(__file__).resolve().parent / "harness.py"
STACKS = ("dev", "prod")


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str
    dependencies: list[str]
    custom: bool
    protect: bool
    retain_on_delete: bool
    id: str
    state: dict[str, Any]


@dataclass(frozen=True)
class Graph:
    """What one program run registered, and its stack outputs."""

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
    """A minimal tree with everything gcf_source_files() lists (not a working handler)."""
    (root / "handler").mkdir(parents=True, exist_ok=True)
    (root / "model" / "artifacts").mkdir(parents=True, exist_ok=True)
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


def run_program(stack: str, *overrides: str) -> Graph:
    """Run pulumi_gcp/__main__.py under mocks with Pulumi.<stack>.yaml plus key=value overrides."""
    completed = subprocess.run(
        [sys.executable, str(HARNESS), str(PROGRAM_DIR / f"Pulumi.{stack}.yaml"), *overrides],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, f"program run failed:\n{completed.stderr[-4000:]}"
    data = json.loads(completed.stdout)
    return Graph([Resource(**r) for r in data["resources"]], data["outputs"])


@pytest.fixture(scope="session")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_root(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="session")
def graphs(fake_root: Path) -> dict[str, Graph]:
    """One program run per example stack file, built from the same fake source tree."""
    return {stack: run_program(stack, f"sourceRoot={fake_root}") for stack in STACKS}


@pytest.fixture(scope="session")
def program() -> Callable[..., Graph]:
    return run_program
