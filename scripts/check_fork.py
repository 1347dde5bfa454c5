#!/usr/bin/env python3
"""Make a representative fork of this repository in a temporary copy, then check that it stays
green: `make snapshots` takes the fork's new templates, and the tests that read the settings in
force pass without a test edited by hand (docs/fork.md).

The fork changes what a platform team changes first:

- cdk.json: both AWS stacks renamed, the service name and metrics namespace, prod's function
  memory and latency alarm threshold;
- pulumi_gcp/: the Pulumi project renamed (and with it every config key's namespace), another
  region for both stacks, prod's memory, warm instances, function name and latency alert;
- models.toml: examples/wine added the way docs/fork.md says (copy it into models/, declare it,
  `make train`), beside the models already declared. With --remove-reference, the model in
  model/ is taken out of models.toml instead of keeping it; with --store, the added model is a
  store model (docs/operate.md, "Model store").

    python scripts/check_fork.py              # what `make test` runs (make fork-check)
    python scripts/check_fork.py --keep       # leave the fork's directory for a look

The copy holds the working tree as git sees it (tracked and untracked, not ignored) and reuses
this checkout's installed environments (.venv, .venv-checkov, node_modules), so it installs
nothing. Exit status: 0 when the fork is green, 1 when a step failed (it names the step).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = (".venv", ".venv-checkov", ".venv-lint-workflows", ".venv-serve", "node_modules")
# The tests that read the live cdk.json, Pulumi.<stack>.yaml, models.toml or model directories.
CONFIGURATION_TESTS = (
    "tests/aws",
    "tests/gcp",
    "tests/ops",
    "tests/ci",
    "tests/test_catalog.py",
    "tests/test_packaging.py",
)
NAME = "acme-scoring"
# What docs/fork.md tells a fork to append to models.toml for the example model.
WINE_TABLE = """
[models.{name}]
path = "models/{name}"
memory_mb = 2048          # both clouds: Lambda memory, Cloud Run memory (2048Mi)
alarm_latency_p99_ms = 1500

[models.{name}.prod]      # prod only
min_instances = 2         # GCP
autoscaling_max = 8       # AWS
"""


def copy_tree(fork: Path) -> None:
    """The working tree as git sees it, plus symlinks to the installed environments."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (fork / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, fork / name)
    for env in ENVIRONMENTS:
        if (ROOT / env).exists():
            (fork / env).symlink_to(ROOT / env)


def fork_aws(fork: Path) -> None:
    cdk_json = fork / "cdk.json"
    config = json.loads(cdk_json.read_text())
    environments = config["context"].setdefault("environments", {})
    for env in ("dev", "prod"):
        block = environments.setdefault(env, {})
        block["stack_name"] = f"Acme-Scoring-{env}"
        block["service_name"] = NAME
        block["metrics_namespace"] = "AcmeScoring"
    environments["prod"].update(memory_mb=1536, alarm_latency_p99_ms=800)
    cdk_json.write_text(json.dumps(config, indent=2) + "\n")


def fork_gcp(fork: Path) -> None:
    program = fork / "pulumi_gcp"
    project_file = program / "Pulumi.yaml"
    project = yaml.safe_load(project_file.read_text())
    old, new = project["name"], f"{NAME}-gcp"
    project["name"] = new
    project_file.write_text(yaml.safe_dump(project, sort_keys=False))
    for stack_file in sorted(program.glob("Pulumi.*.yaml")):
        stack = stack_file.name.split(".")[1]
        settings = yaml.safe_load(stack_file.read_text()) or {}
        config = {
            (f"{new}:{key.split(':', 1)[1]}" if key.startswith(f"{old}:") else key): value
            for key, value in (settings.get("config") or {}).items()
        }
        config["gcp:region"] = "europe-west1"
        if stack == "prod":
            config.update(
                {
                    f"{new}:memory": "1Gi",
                    f"{new}:minInstances": 2,
                    f"{new}:functionName": NAME,
                    f"{new}:alertLatencyP99Ms": 800,
                }
            )
        settings["config"] = config
        stack_file.write_text(yaml.safe_dump(settings, sort_keys=False))


def fork_models(fork: Path, remove_reference: bool, store: bool) -> str:
    """Add examples/wine as docs/fork.md says; return the name it got."""
    declaration = fork / "models.toml"
    declared = tomllib.loads(declaration.read_text()).get("models", {})
    name = next(n for n in ("wine", "winecheck", "forkcheck") if n not in declared)
    shutil.copytree(fork / "examples" / "wine", fork / "models" / name)
    text = declaration.read_text()
    if remove_reference:
        kept = {n: t for n, t in declared.items() if t.get("path") != "model"}
        text = "\n".join(_table(n, t) for n, t in kept.items())
    table = WINE_TABLE.format(name=name)
    if store:
        table = table.replace(
            f'path = "models/{name}"\n', f'path = "models/{name}"\nsource = "store"\n'
        )
    declaration.write_text(text.rstrip("\n") + "\n" + table)
    return name


def _table(name: str, table: dict[str, object]) -> str:
    """A models.toml table back as text (the simple values models.toml holds)."""
    lines, nested = [f"[models.{name}]"], []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append(f"[models.{name}.{key}]")
            nested += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines + nested) + "\n"


def run(step: str, command: list[str], fork: Path, quiet: bool) -> None:
    """Run one step in the fork; with `quiet`, show its output only when it fails."""
    if not quiet:
        print(f"fork-check: {step}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    # pytest's own temporary folders: beside another pytest session (make test runs the suite
    # at the same time), the shared /tmp/pytest-of-<user> would be pruned under its feet.
    env = {
        **os.environ,
        "MAKEFLAGS": "",
        "MAKELEVEL": "",
        "PYTEST_ADDOPTS": f"--basetemp={fork / '.pytest-tmp'}",
    }
    output = subprocess.PIPE if quiet else None
    result = subprocess.run(command, cwd=fork, env=env, stdout=output, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        if quiet:
            print(result.stdout.decode(errors="replace"), flush=True)
        raise SystemExit(
            f"fork-check: FAILED at {step} (exit {result.returncode}); "
            "`python scripts/check_fork.py --keep` leaves the fork in place to look at"
        )
    print(f"fork-check: {step}: ok in {time.monotonic() - started:.0f} s", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the fork's directory")
    parser.add_argument(
        "--quiet", action="store_true", help="print a step's output only when it fails"
    )
    parser.add_argument(
        "--remove-reference", action="store_true", help="take the model in model/ out too"
    )
    parser.add_argument(
        "--store", action="store_true", help='declare the added model source = "store"'
    )
    args = parser.parse_args(argv)
    fork = Path(tempfile.mkdtemp(prefix="fork-check-"))
    try:
        copy_tree(fork)
        fork_aws(fork)
        fork_gcp(fork)
        name = fork_models(fork, args.remove_reference, args.store)
        python = str(fork / ".venv" / "bin" / "python")
        train = ["make", "--no-print-directory", "train", f"MODEL={name}"]
        run(f"train {name}", train, fork, args.quiet)
        run("make snapshots", ["make", "--no-print-directory", "snapshots"], fork, args.quiet)
        tests = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CONFIGURATION_TESTS]
        run("configuration-dependent tests", tests, fork, args.quiet)
    finally:
        if args.keep:
            print(f"fork-check: the fork is in {fork}")
        else:
            shutil.rmtree(fork, ignore_errors=True)
    print("fork-check: the fork is green")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
