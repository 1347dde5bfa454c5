"""What verify and probe need from Google Cloud tooling: a Pulumi stack's outputs (the
function's URL, whether it is public) and an identity token for a private function.

Both come from the user's own CLIs (`pulumi`, `gcloud`), already logged in; a missing CLI or a
failing command is a one-line CannotRun.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ops.auth import BearerToken
from ops.errors import CannotRun

PULUMI_DIR = Path(__file__).resolve().parent.parent / "pulumi_gcp"
PULUMI_INSTALL = "install it (https://www.pulumi.com/docs/install/) and run `pulumi login`"
GCLOUD_INSTALL = (
    "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install) and run "
    "`gcloud auth login`, or pass --id-token"
)


def pulumi_stack_outputs(
    stack: str, *, cwd: Path = PULUMI_DIR, timeout: float = 120
) -> dict[str, Any]:
    """`pulumi stack output --json` of `stack`, run in the Pulumi program's folder."""
    out = _run(
        ["pulumi", "stack", "output", "--json", "--stack", stack],
        what="the Pulumi CLI",
        install=PULUMI_INSTALL,
        timeout=timeout,
        cwd=cwd,
    )
    try:
        outputs: Any = json.loads(out)
    except ValueError:
        raise CannotRun(f"`pulumi stack output --json` printed no JSON: {out[:80]!r}") from None
    if not isinstance(outputs, dict):
        raise CannotRun(f"`pulumi stack output --json` printed {type(outputs).__name__}")
    return outputs


def gcloud_identity_token(audience: str, *, timeout: float = 60) -> BearerToken:
    """An identity token of gcloud's active account that the function at `audience` accepts.

    A service account (CI, impersonation) must name the function's URL as the audience; gcloud
    refuses `--audiences` for a user account, whose plain token Cloud Run accepts from any
    member holding roles/run.invoker. So: the audience first, then the plain token.
    """

    def print_identity_token(*flags: str) -> str:
        command = ["gcloud", "auth", "print-identity-token", *flags]
        return _run(command, what="the gcloud CLI", install=GCLOUD_INSTALL, timeout=timeout)

    try:
        token = print_identity_token(f"--audiences={audience}")
    except CannotRun:
        token = print_identity_token()
    if not token.strip():
        raise CannotRun(
            "`gcloud auth print-identity-token` printed no token: run gcloud auth login"
        )
    return BearerToken(token.strip())


def _run(
    argv: list[str], *, what: str, install: str, timeout: float, cwd: Path | None = None
) -> str:
    executable = shutil.which(argv[0])
    if executable is None:
        raise CannotRun(f"{what} ({argv[0]}) is not installed or not on PATH: {install}")
    command = " ".join(argv)
    try:
        done = subprocess.run(
            [executable, *argv[1:]],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CannotRun(f"`{command}` did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise CannotRun(f"`{command}` could not start: {exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise CannotRun(f"`{command}` failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout
