"""Release and roll back a GCP stack: the commands behind `make release-gcp` and
`make rollback-gcp`. Not part of the Pulumi program (Pulumi runs only `__main__.py`).

Cloud Functions 2nd gen has no traffic splitting of its own: `pulumi up` sends all traffic to
the new revision once it is ready. The closest safe equivalent:

    release   deploy the working tree, verify the new revision (`make verify
              PULUMI_STACK=<stack>`, ops.verify), and if a check fails serve again the bundle
              that was served before
    rollback  serve an earlier bundle again: pin it with the stack config key `sourceObject`
              and deploy, which rebuilds the function from it

A rollback is a rebuild (a Cloud Build run of a few minutes), not a traffic switch: the failed
revision serves until it finishes. It swaps the source bundle only, not the stack's settings.

"Earlier" is upload order in the stack's bucket, which is release order: every release of new
code uploads its bundle, a rollback uploads nothing. A bundle a rollback moved away from is
marked (custom metadata `rolled-back-at`) and never chosen again.

Each model of the stack (models.toml) has a function, bundles and a pin: `sourceObject` for the
primary model (the one in model/), `sourceObjects.<model>` for the others. A release deploys
them all, verifies each (`make verify ... ARGS='--model <name>'`) and serves the previous bundle
again only for the models that fail; a rollback serves an earlier bundle of one model: the
stack's only one, or the one named (`--model`, `make rollback-gcp MODEL=<name>`).

Exit codes: 0 done; 1 a deploy or a verification failed; 2 a tool, the credentials or the
stack are missing, or the verification could not run (nothing is known to be wrong).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

PROGRAM_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROGRAM_DIR.parent
PIN = "sourceObject"
MODEL_PINS = "sourceObjects"  # with several models: sourceObjects.<model>
ROLLED_BACK = "rolled-back-at"
FIRST_DEPLOY_HELP = (
    "If it says 'Access to bucket gcf-v2-sources-... denied', IAM had not propagated yet: see "
    'docs/deploy-gcp.md, "If the first deploy fails".'
)


class Unavailable(Exception):
    """When a tool, the credentials, the stack or a bundle is missing: nothing was changed"""


@dataclass(frozen=True)
class Bundle:
    name: str
    created: datetime
    rolled_back: bool


@dataclass(frozen=True)
class Served:
    """What one function of a deployed stack serves. `model` is None for a stack deployed before
    the program exported its models (its one model, pinned by sourceObject)."""

    model: str | None
    function: str
    bundle: str
    primary: bool = False  # the model in model/, pinned by sourceObject
    # A store model's folder in the model store (its `model_store` output), else None.
    store: str | None = None

    @property
    def pin_model(self) -> str | None:
        """The model whose `sourceObjects.<model>` pins it, None for `sourceObject`."""
        return None if self.primary else self.model

    @property
    def pin_key(self) -> str:
        return PIN if self.pin_model is None else f"{MODEL_PINS}.{self.pin_model}"

    @property
    def label(self) -> str:
        """How messages name it: `wine: `, or nothing for a stack's unnamed model."""
        return "" if self.model is None else f"{self.model}: "

    def rollback_command(self, stack: str) -> str:
        model = "" if self.model is None else f" MODEL={self.model}"
        return f"make rollback-gcp STACK={stack}{model}"


def served_by(outputs: dict[str, Any]) -> dict[str | None, Served]:
    """Each function's bundle, from the stack outputs: `models.<name>` (`primary_model` names
    the one pinned by sourceObject), or the top-level keys of a stack deployed before the program
    exported `models`; empty when the stack has not been deployed by this program."""
    if isinstance(outputs.get("models"), dict):
        primary = outputs.get("primary_model")
        return {
            name: Served(
                name, o["function_name"], o["source_object"], name == primary, o.get("model_store")
            )
            for name, o in outputs["models"].items()
        }
    if "source_object" in outputs and "function_name" in outputs:
        return {None: Served(None, outputs["function_name"], outputs["source_object"], True)}
    return {}


def previous_bundle(bundles: Sequence[Bundle], served: str) -> Bundle | None:
    """The bundle to serve instead of `served`: the newest uploaded before it that no rollback
    has moved away from (any such bundle, newest first, if `served` is no longer stored)."""
    current = next((b for b in bundles if b.name == served), None)
    candidates = [
        b
        for b in bundles
        if b.name != served
        and not b.rolled_back
        and (current is None or b.created < current.created)
    ]
    return max(candidates, key=lambda b: b.created, default=None)


class Stack(Protocol):
    stack: str

    def outputs(self) -> dict[str, Any]: ...
    def project(self) -> str: ...
    def pins(self) -> dict[str | None, str]: ...
    def pin(self, bundle: str, model: str | None = None) -> None: ...
    def unpin(self, model: str | None = None) -> None: ...
    def up(self) -> bool: ...


class Bundles(Protocol):
    def list(self, bucket: str, prefix: str) -> list[Bundle]: ...
    def mark_rolled_back(self, bucket: str, name: str, when: datetime) -> None: ...


class PulumiCli:
    """The Pulumi CLI, run in the program's directory against one stack."""

    def __init__(self, stack: str, binary: str = "pulumi", up_flags: Sequence[str] = ()):
        if shutil.which(binary) is None:
            raise Unavailable(
                f"the Pulumi CLI ({binary!r}) is not installed or not on PATH: install it "
                "(https://www.pulumi.com/docs/install/), run `pulumi login`, then retry"
            )
        self.stack, self.binary, self.up_flags = stack, binary, list(up_flags)

    def _run(self, *args: str) -> str:
        command = [self.binary, *args, "--stack", self.stack]
        done = subprocess.run(command, cwd=PROGRAM_DIR, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Unavailable(f"`{shlex.join(command)}` failed: {done.stderr.strip()}")
        return done.stdout

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = json.loads(self._run("config", "--json") or "{}")
        return config

    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = json.loads(self._run("stack", "output", "--json") or "{}")
        return outputs

    def project(self) -> str:
        entry = self._config().get("gcp:project")
        if not entry or not entry.get("value"):
            raise Unavailable("gcp:project is not set: run `pulumi config set gcp:project <id>`")
        return str(entry["value"])

    def pins(self) -> dict[str | None, str]:
        """The pinned bundles: None -> `sourceObject`, each model -> `sourceObjects.<model>`."""
        pins: dict[str | None, str] = {}
        for key, entry in self._config().items():
            if key.endswith(f":{PIN}") and entry.get("value"):
                pins[None] = str(entry["value"])
            elif key.endswith(f":{MODEL_PINS}"):
                # `pulumi config --json` gives an object both as JSON text and as objectValue.
                value = entry.get("objectValue") or json.loads(entry.get("value") or "{}")
                pins.update({str(k): str(v) for k, v in value.items() if v})
        return pins

    def pin(self, bundle: str, model: str | None = None) -> None:
        if model is None:
            self._run("config", "set", PIN, bundle)
        else:
            self._run("config", "set", "--path", f"{MODEL_PINS}.{model}", bundle)

    def unpin(self, model: str | None = None) -> None:
        if model is None:
            self._run("config", "rm", PIN)
        else:
            self._run("config", "rm", "--path", f"{MODEL_PINS}.{model}")

    def up(self) -> bool:
        """`pulumi up --refresh`, its output on the terminal; True when it succeeded."""
        command = [self.binary, "up", "--stack", self.stack, "--yes", "--refresh", *self.up_flags]
        return subprocess.run(command, cwd=PROGRAM_DIR, check=False).returncode == 0


class BundleStore:
    """The stack's source bucket, read with application-default credentials (as Pulumi's)."""

    def __init__(self, project: str):
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import storage

        try:
            self.client = storage.Client(project=project)
        except DefaultCredentialsError:
            raise Unavailable(
                "no Google credentials: run `gcloud auth application-default login` (the "
                "Pulumi provider needs the same)"
            ) from None

    def list(self, bucket: str, prefix: str) -> list[Bundle]:
        return [
            Bundle(blob.name, blob.time_created, ROLLED_BACK in (blob.metadata or {}))
            for blob in self.client.list_blobs(bucket, prefix=prefix)
            if blob.name.endswith(".zip")
        ]

    def mark_rolled_back(self, bucket: str, name: str, when: datetime) -> None:
        blob = self.client.bucket(bucket).get_blob(name)
        if blob is not None:  # the lifecycle rule may have deleted it
            blob.metadata = {**(blob.metadata or {}), ROLLED_BACK: when.isoformat()}
            blob.patch()


def make_verify(stack: str, model: str | None = None, repo_root: Path = REPO_ROOT) -> int:
    """`make verify PULUMI_STACK=<stack>` (CONTRACTS.md section 7), for one of several models
    with `ARGS='--model <model>'` (section 10): 0 passed, 1 a check failed, 2 it could not run
    (including when this checkout has no verify target yet).

    make itself exits 2 whatever its recipe returned; GNU make reports the recipe's own status
    on stderr as `*** [Makefile:N: verify] Error <status>`, which tells 1 from 2.
    """
    command = ["make", "--no-print-directory", "verify", f"PULUMI_STACK={stack}"]
    if model is not None:
        command.append(f"ARGS=--model {model}")
    if shutil.which("make") is None:
        say("cannot verify: `make` is not installed")
        return 2
    dry_run = subprocess.run(
        [*command[:2], "--dry-run", *command[2:]],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if dry_run.returncode != 0:
        say(
            "cannot verify: this checkout has no `make verify` (ops.verify, CONTRACTS.md "
            f"section 7): {dry_run.stderr.strip()}"
        )
        return 2
    done = subprocess.run(command, cwd=repo_root, stderr=subprocess.PIPE, text=True, check=False)
    sys.stderr.write(done.stderr)
    if done.returncode == 0:
        return 0
    status = re.search(r"\[(?:[^\]]*: )?verify\] Error (\d+)", done.stderr)
    return 1 if status is not None and status.group(1) == "1" else 2


def say(message: str) -> None:
    print(f"gcp-release: {message}", flush=True)


def _deployed(stack: Stack) -> tuple[dict[str | None, Served], str]:
    """What each function serves, and the stack's bucket."""
    outputs = stack.outputs()
    served = served_by(outputs)
    if not served or "bucket_name" not in outputs:
        raise Unavailable(
            f"stack {stack.stack} has not been deployed by this program yet: nothing to roll "
            "back (deploy it with make deploy-gcp or make release-gcp)"
        )
    return served, outputs["bucket_name"]


def _stored(bundles: Bundles, bucket: str, unit: Served) -> list[Bundle]:
    return sorted(bundles.list(bucket, f"{unit.function}/source-"), key=lambda b: b.created)


def _serve_again(
    stack: Stack,
    bundles: Bundles,
    verify: Callable[[str, str | None], int],
    *,
    bucket: str,
    targets: Sequence[tuple[Served, str]],
) -> int:
    """Pin each unit's target, deploy once, mark what each moved away from, verify each.
    0 when every one is verified (or could not be), 1 when a deploy or a check failed."""
    for unit, target in targets:
        say(
            f"{unit.label}pinning {target} ({unit.pin_key}) and deploying: the function "
            "rebuilds from it"
        )
        stack.pin(target, unit.pin_model)
    if not stack.up():
        keys = ", ".join(unit.pin_key for unit, _ in targets)
        say(
            f"the rollback's deploy failed; {keys} stays set, so `make deploy-gcp "
            f"STACK={stack.stack}` retries it. {FIRST_DEPLOY_HELP}"
        )
        return 1
    status = 0
    for unit, target in targets:
        bundles.mark_rolled_back(bucket, unit.bundle, datetime.now(UTC))
        result = verify(stack.stack, unit.model)
        if result == 1:
            say(
                f"{unit.label}serving {target} again, but verification still fails: the cause "
                "is not in the source bundle (the stack's settings, a quota, a dependency): see "
                "the logs"
            )
            status = 1
            continue
        path = "" if unit.pin_model is None else " --path"
        say(
            f"{unit.label}serving {target} again"
            + (" (verified)" if result == 0 else " (NOT verified: verification could not run)")
            + f". The stack stays pinned until `make release-gcp STACK={stack.stack}` (or "
            f"`pulumi config rm{path} {unit.pin_key}`) deploys the working tree."
        )
    return status


def rollback(
    stack: Stack,
    open_bundles: Callable[[str], Bundles],
    verify: Callable[[str, str | None], int],
    to: str | None = None,
    model: str | None = None,
) -> int:
    """Serve `to`, or else the bundle served before the current one, again: of the stack's only
    model, or of `model` when the stack serves several."""
    served, bucket = _deployed(stack)
    unit = _choose(stack, served, model)
    bundles = open_bundles(stack.project())
    stored = _stored(bundles, bucket, unit)
    for bundle in stored:
        note = ""
        if bundle.name == unit.bundle:
            note = " (served)"
        elif bundle.rolled_back:
            note = " (rolled back from)"
        say(f"  {bundle.created:%Y-%m-%d %H:%M} {bundle.name}{note}")
    if to is None:
        previous = previous_bundle(stored, unit.bundle)
        if previous is None:
            raise Unavailable(
                f"no earlier bundle of {unit.function} in gs://{bucket} (the bucket keeps "
                "bundles bundleRetentionDays after upload). Deploy the earlier commit instead: "
                "the archive is reproducible, so `git checkout <commit> && make deploy-gcp "
                f"STACK={stack.stack}` builds the same bundle"
            )
        to = previous.name
    elif to not in {b.name for b in stored}:
        raise Unavailable(f"{to} is not in gs://{bucket}: choose one of the bundles listed above")
    if to == unit.bundle:
        raise Unavailable(f"{to} is what the function serves already")
    return _serve_again(stack, bundles, verify, bucket=bucket, targets=[(unit, to)])


def _choose(stack: Stack, served: dict[str | None, Served], model: str | None) -> Served:
    """The one function a rollback is about: `model`, or the stack's only one."""
    if None in served:
        if model is not None:
            raise Unavailable(
                f"stack {stack.stack} serves a single model: roll it back without MODEL"
            )
        return served[None]
    names = ", ".join(sorted(str(name) for name in served))
    if model is None and len(served) == 1:
        return next(iter(served.values()))
    if model is None:
        raise Unavailable(
            f"stack {stack.stack} serves several models ({names}): name the one to roll back, "
            f"e.g. make rollback-gcp STACK={stack.stack} MODEL=<name>"
        )
    if model not in served:
        raise Unavailable(f"stack {stack.stack} serves no model {model!r} (it serves {names})")
    return served[model]


def release(
    stack: Stack,
    open_bundles: Callable[[str], Bundles],
    verify: Callable[[str, str | None], int],
) -> int:
    """Deploy the working tree, verify each function, and serve the previous bundle again for
    each one that fails."""
    before = {key: unit.bundle for key, unit in served_by(stack.outputs()).items()}
    for key, pinned in stack.pins().items():
        where = PIN if key is None else f"{MODEL_PINS}.{key}"
        say(f"removing {where} ({pinned}): a release deploys the working tree")
        stack.unpin(key)
    if not stack.up():
        say(f"the deploy failed; make verify shows what the function serves. {FIRST_DEPLOY_HELP}")
        return 1
    served, bucket = _deployed(stack)
    if None in before:  # deployed before the program exported `models`: its model is the primary
        primary = next((key for key, unit in served.items() if unit.primary), None)
        before[primary] = before.pop(None)
    results = {}
    for key, unit in served.items():
        say(f"{unit.label}deployed {unit.bundle}; verifying the new revision")
        results[key] = verify(stack.stack, key)
    for key, result in results.items():
        unit = served[key]
        if result == 0:
            say(f"{unit.label}released {unit.bundle}")
        elif result != 1:
            command = unit.rollback_command(stack.stack)
            say(
                f"{unit.label}could not verify {unit.bundle}: nothing is known to be wrong, "
                f"nothing was rolled back. Check it yourself; `{command}` serves "
                f"{before.get(key) or 'an earlier bundle'} again"
            )
    failed = [served[key] for key, result in results.items() if result == 1]
    if not failed:
        return 0 if all(result == 0 for result in results.values()) else 2
    bundles = open_bundles(stack.project())
    targets = [
        (unit, before[unit.model])
        for unit in failed
        if _can_serve_again(stack, bundles, bucket, unit, before.get(unit.model))
    ]
    if targets:
        _serve_again(stack, bundles, verify, bucket=bucket, targets=targets)
    return 1


def _can_serve_again(
    stack: Stack, bundles: Bundles, bucket: str, unit: Served, before: str | None
) -> bool:
    """Whether the bundle `unit` served before the release can undo its failure; says why not."""
    if before is None:
        say(
            f"{unit.label}the first release failed verification: there is no earlier bundle to "
            "serve"
        )
        return False
    if before == unit.bundle and unit.store is not None:
        # The seam for gated revisions (issue 16): until then a store model's failed promotion
        # is undone the way it was made, through its pointer.
        say(
            f"{unit.label}verification failed, and the source bundle did not change: the "
            f"version the pointer of {unit.store} names is at fault. Promote the version served "
            f"before (make promote MODEL={unit.model} VERSION=<previous> PULUMI_STACK="
            f"{stack.stack}) and run make release-gcp STACK={stack.stack} again"
        )
        return False
    if before == unit.bundle:
        say(
            f"{unit.label}verification failed, but the source bundle did not change (a "
            "settings-only release): serving a bundle again cannot undo it. Revert the settings "
            f"and run make deploy-gcp STACK={stack.stack}"
        )
        return False
    if before not in {b.name for b in _stored(bundles, bucket, unit)}:
        say(
            f"{unit.label}verification failed, and the previous bundle {before} is no longer in "
            f"gs://{bucket} (bundleRetentionDays): deploy the previous commit instead"
        )
        return False
    say(f"{unit.label}verification failed: serving the previous bundle {before} again")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="release.py", description="Release or roll back a GCP stack (docs/operate.md)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in (
        ("release", "deploy the working tree, verify it, roll back if verification fails"),
        ("rollback", "serve an earlier source bundle again"),
    ):
        command = commands.add_parser(name, help=summary)
        command.add_argument("--stack", required=True, help="the Pulumi stack")
        command.add_argument("--pulumi", default="pulumi", help="the Pulumi CLI to run")
        command.add_argument("--pulumi-flags", default="", help="extra flags for pulumi up")
        command.add_argument(
            "--model", help="rollback: the model, on a stack serving several (models.toml)"
        )
        if name == "rollback":
            command.add_argument("--to", help="the bundle to serve (default: the previous one)")
    args = parser.parse_args(argv)
    try:
        if args.command == "release" and args.model:
            raise Unavailable(
                "a release deploys every model of the stack, verifies each and rolls back only "
                "those that fail: run it without MODEL (MODEL chooses what rollback-gcp rolls back)"
            )
        stack = PulumiCli(args.stack, args.pulumi, shlex.split(args.pulumi_flags))
        if args.command == "release":
            return release(stack, BundleStore, make_verify)
        return rollback(stack, BundleStore, make_verify, to=args.to, model=args.model)
    except Unavailable as error:
        print(f"gcp-release: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
