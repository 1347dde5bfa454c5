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
ROLLED_BACK = "rolled-back-at"
FIRST_DEPLOY_HELP = (
    "If it says 'Access to bucket gcf-v2-sources-... denied', IAM had not propagated yet: see "
    'README.md, "If the first deploy fails".'
)


class Unavailable(Exception):
    """When a tool, the credentials, the stack or a bundle is missing: nothing was changed"""


@dataclass(frozen=True)
class Bundle:
    name: str
    created: datetime
    rolled_back: bool


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
    def pinned(self) -> str | None: ...
    def pin(self, bundle: str) -> None: ...
    def unpin(self) -> None: ...
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

    def pinned(self) -> str | None:
        entry = next((v for k, v in self._config().items() if k.endswith(f":{PIN}")), None)
        return None if entry is None else entry.get("value")

    def pin(self, bundle: str) -> None:
        self._run("config", "set", PIN, bundle)

    def unpin(self) -> None:
        self._run("config", "rm", PIN)

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


def make_verify(stack: str, repo_root: Path = REPO_ROOT) -> int:
    """`make verify PULUMI_STACK=<stack>` (CONTRACTS.md section 7): 0 passed, 1 a check
    failed, 2 it could not run (including when this checkout has no verify target yet).

    make itself exits 2 whatever its recipe returned; GNU make reports the recipe's own status
    on stderr as `*** [Makefile:N: verify] Error <status>`, which tells 1 from 2.
    """
    command = ["make", "--no-print-directory", "verify", f"PULUMI_STACK={stack}"]
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


def _deployed(stack: Stack) -> tuple[str, str, str]:
    outputs = stack.outputs()
    try:
        return outputs["source_object"], outputs["bucket_name"], outputs["function_name"]
    except KeyError:
        raise Unavailable(
            f"stack {stack.stack} has not been deployed by this program yet: nothing to roll "
            "back (deploy it with make deploy-gcp or make release-gcp)"
        ) from None


def _serve_again(
    stack: Stack,
    bundles: Bundles,
    verify: Callable[[str], int],
    *,
    bucket: str,
    target: str,
    replacing: str,
) -> int:
    """Pin `target`, deploy, mark `replacing` as rolled back from, verify. 0 when verified."""
    say(f"pinning {target} ({PIN}) and deploying: the function rebuilds from it")
    stack.pin(target)
    if not stack.up():
        say(
            f"the rollback's deploy failed; {PIN} stays set, so `make deploy-gcp "
            f"STACK={stack.stack}` retries it. {FIRST_DEPLOY_HELP}"
        )
        return 1
    bundles.mark_rolled_back(bucket, replacing, datetime.now(UTC))
    result = verify(stack.stack)
    if result == 1:
        say(
            f"serving {target} again, but verification still fails: the cause is not in the "
            "source bundle (the stack's settings, a quota, a dependency): see the logs"
        )
        return 1
    say(
        f"serving {target} again"
        + (" (verified)" if result == 0 else " (NOT verified: verification could not run)")
        + f". The stack stays pinned until `make release-gcp STACK={stack.stack}` (or "
        f"`pulumi config rm {PIN}`) deploys the working tree."
    )
    return 0


def rollback(
    stack: Stack,
    open_bundles: Callable[[str], Bundles],
    verify: Callable[[str], int],
    to: str | None = None,
) -> int:
    """Serve `to`, or else the bundle served before the current one, again."""
    served, bucket, function = _deployed(stack)
    bundles = open_bundles(stack.project())
    stored = sorted(bundles.list(bucket, f"{function}/source-"), key=lambda b: b.created)
    for bundle in stored:
        note = ""
        if bundle.name == served:
            note = " (served)"
        elif bundle.rolled_back:
            note = " (rolled back from)"
        say(f"  {bundle.created:%Y-%m-%d %H:%M} {bundle.name}{note}")
    if to is None:
        previous = previous_bundle(stored, served)
        if previous is None:
            raise Unavailable(
                f"no earlier bundle of {function} in gs://{bucket} (the bucket keeps bundles "
                "bundleRetentionDays after upload). Deploy the earlier commit instead: the "
                "archive is reproducible, so `git checkout <commit> && make deploy-gcp "
                f"STACK={stack.stack}` builds the same bundle"
            )
        to = previous.name
    elif to not in {b.name for b in stored}:
        raise Unavailable(f"{to} is not in gs://{bucket}: choose one of the bundles listed above")
    if to == served:
        raise Unavailable(f"{to} is what the function serves already")
    return _serve_again(stack, bundles, verify, bucket=bucket, target=to, replacing=served)


def release(
    stack: Stack, open_bundles: Callable[[str], Bundles], verify: Callable[[str], int]
) -> int:
    """Deploy the working tree, verify it, and serve the previous bundle again if it fails."""
    before = stack.outputs().get("source_object")
    if stack.pinned() is not None:
        say(f"removing {PIN}: a release deploys the working tree")
        stack.unpin()
    if not stack.up():
        say(f"the deploy failed; make verify shows what the function serves. {FIRST_DEPLOY_HELP}")
        return 1
    served, bucket, function = _deployed(stack)
    say(f"deployed {served}; verifying the new revision")
    result = verify(stack.stack)
    if result == 0:
        say(f"released {served}")
        return 0
    if result != 1:
        say(
            f"could not verify {served}: nothing is known to be wrong, nothing was rolled back. "
            f"Check it yourself; `make rollback-gcp STACK={stack.stack}` serves {before} again"
        )
        return 2
    if before is None:
        say("the stack's first release failed verification: there is no earlier bundle to serve")
        return 1
    if before == served:
        say(
            "verification failed, but the source bundle did not change (a settings-only "
            "release): serving a bundle again cannot undo it. Revert the settings and run "
            f"make deploy-gcp STACK={stack.stack}"
        )
        return 1
    bundles = open_bundles(stack.project())
    if before not in {b.name for b in bundles.list(bucket, f"{function}/source-")}:
        say(
            f"verification failed, and the previous bundle {before} is no longer in gs://{bucket} "
            "(bundleRetentionDays): deploy the previous commit instead"
        )
        return 1
    say(f"verification failed: serving the previous bundle {before} again")
    _serve_again(stack, bundles, verify, bucket=bucket, target=before, replacing=served)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="release.py", description="Release or roll back a GCP stack (README: Releasing)."
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
        if name == "rollback":
            command.add_argument("--to", help="the bundle to serve (default: the previous one)")
    args = parser.parse_args(argv)
    try:
        stack = PulumiCli(args.stack, args.pulumi, shlex.split(args.pulumi_flags))
        if args.command == "release":
            return release(stack, BundleStore, make_verify)
        return rollback(stack, BundleStore, make_verify, to=args.to)
    except Unavailable as error:
        print(f"gcp-release: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
