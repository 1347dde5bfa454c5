"""`make release-gcp` and `make rollback-gcp`: the command line of the release tool
(gcp_release/), wired to the Pulumi CLI and Google's client libraries. Not part of the Pulumi
program (Pulumi runs only `__main__.py`).

    release   pin each function's traffic by revision name, `pulumi up` (new revisions get no
              traffic: function.py), then for each model judge its new revision through a tag,
              hold a canary, and give it all traffic, or put traffic back (gcp_release/flow.py)
    rollback  all of one function's traffic to the revision that served before (the release
              record in the stack's bucket says which) or to a named one: a traffic change,
              seconds, no rebuild

    python pulumi_gcp/release.py release --stack prod [--model wine] [--dry-run]
    python pulumi_gcp/release.py rollback --stack prod [--model wine] [--to <revision>] [--dry-run]

Exit codes: 0 done (or nothing to do); 1 a deploy failed, a new revision was rejected (its
traffic is back where it was), or a rollback target failed its check; 2 a tool, the
credentials, the stack or a revision is missing: nothing was changed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROGRAM_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROGRAM_DIR.parent
if str(REPO_ROOT) not in sys.path:  # ops/ and model/ live at the repository root
    sys.path.insert(1, str(REPO_ROOT))

from gcp_release import flow  # noqa: E402
from gcp_release.flow import Ports, Unavailable, Unit  # noqa: E402
from gcp_release.probe import Expected  # noqa: E402
from gcp_release.traffic import describe, pinned  # noqa: E402

FIRST_DEPLOY_HELP = (
    "If it says 'Access to bucket gcf-v2-sources-... denied', IAM had not propagated yet: see "
    'docs/deploy-gcp.md, "If the first deploy fails".'
)


def say(message: str) -> None:
    print(f"gcp-release: {message}", flush=True)


class PulumiCli:
    """The Pulumi CLI, run in the program's directory against one stack."""

    def __init__(self, stack: str, binary: str = "pulumi", up_flags: Sequence[str] = ()):
        if shutil.which(binary) is None:
            raise Unavailable(
                f"the Pulumi CLI ({binary!r}) is not installed or not on PATH: install it "
                "(https://www.pulumi.com/docs/install/), run `pulumi login`, then retry"
            )
        self.stack, self.binary, self.up_flags = stack, binary, list(up_flags)

    def outputs(self) -> dict[str, Any]:
        command = [self.binary, "stack", "output", "--json", "--stack", self.stack]
        done = subprocess.run(command, cwd=PROGRAM_DIR, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Unavailable(f"`{shlex.join(command)}` failed: {done.stderr.strip()}")
        outputs: dict[str, Any] = json.loads(done.stdout or "{}")
        return outputs

    def up(self) -> bool:
        """`pulumi up --refresh`, its output on the terminal; True when it succeeded."""
        command = [self.binary, "up", "--stack", self.stack, "--yes", "--refresh", *self.up_flags]
        return subprocess.run(command, cwd=PROGRAM_DIR, check=False).returncode == 0


def units_from(
    outputs: dict[str, Any], model: str | None = None
) -> list[tuple[Unit, dict[str, Any]]]:
    """Each model's function and its `release` output, from the stack outputs: `models.<name>`
    with several models, the top-level keys for one; `model` picks one."""
    if isinstance(outputs.get("models"), dict):
        found = {name: o for name, o in outputs["models"].items() if isinstance(o, dict)}
        entries: list[tuple[str | None, dict[str, Any]]] = list(found.items())
    else:
        entries = [(None, outputs)] if "release" in outputs else []
    if not entries:
        raise Unavailable(
            "the stack has no release outputs: deploy it with this version of the program first "
            "(make deploy-gcp), then release"
        )
    names = sorted(str(name) for name, _ in entries if name)
    if model is not None:
        entries = [(name, o) for name, o in entries if name == model]
        if not entries:
            raise Unavailable(f"the stack serves no model {model!r} (it serves {', '.join(names)})")
    units = []
    for name, o in entries:
        settings = o["release"]
        units.append(
            (
                Unit(
                    model=name,
                    function=str(o["function_name"]),
                    url=str(o["url"]),
                    bundle=str(o["source_object"]),
                    canary_percent=int(settings["canary_percent"]),
                    canary_minutes=int(settings["canary_minutes"]),
                    latency_p99_ms=float(settings["latency_p99_ms"]),
                ),
                settings,
            )
        )
    return units


def tree_expectation(model: str | None) -> Expected:
    """The working tree's model: what a revision built from this tree's bundle must serve."""
    from ops.cli import local_artifacts
    from ops.errors import CannotRun
    from ops.reference import ReferenceError, load_reference

    try:
        directory = local_artifacts(model)
        return Expected.from_reference(load_reference(directory), f"{directory} (the working tree)")
    except (CannotRun, ReferenceError) as exc:
        raise Unavailable(str(exc)) from None


def expectation(model: str | None, outputs: dict[str, Any]) -> Expected:
    """What the function's new revision must serve. A store model's: the version its revision
    pins (the `model_version` output: the pointer as `pulumi up` read it), checked in the store
    with that version's own reference; any other model's: the working tree's."""
    models = outputs.get("models")
    found = models.get(model) if model is not None and isinstance(models, dict) else outputs
    store = found.get("model_store") if isinstance(found, dict) else None
    if not store:
        return tree_expectation(model)
    version = str(found.get("model_version"))
    from handler.store import ModelPrefix, StoreError
    from handler.store_gcs import GcsStore
    from ops.model_store import Refused, verify_version

    try:
        location = ModelPrefix.parse(store)
        stored = verify_version(GcsStore(location.bucket), location, version)
    except (Refused, StoreError) as exc:
        raise Unavailable(f"cannot read the version its revision pins: {exc}") from None
    return Expected.from_reference(
        stored.reference, f"version {version} of {store}, which the revision pins"
    )


def google_ports(settings: dict[str, Any], bucket: str, public: bool, p99_ms: float) -> Ports:
    """Ports on Google's client libraries, with application-default credentials."""
    from google.auth.exceptions import DefaultCredentialsError

    try:
        from google.cloud import monitoring_v3, run_v2, storage

        project, region, service = settings["project"], settings["region"], settings["service"]
        from gcp_release.cloud_run import CloudRun
        from gcp_release.probe import Prober, no_tokens
        from gcp_release.revision_metrics import RevisionMetrics
        from gcp_release.storage import Bucket

        return Ports(
            service=CloudRun(
                run_v2.ServicesClient(), run_v2.RevisionsClient(), project, region, service
            ),
            record=Bucket(storage.Client(project=project), bucket),
            metrics=RevisionMetrics(monitoring_v3.MetricServiceClient(), project, service),
            probe=Prober(no_tokens if public else identity_tokens(), p99_ms=p99_ms),
            say=say,
            clock=time.monotonic,
            sleep=time.sleep,
        )
    except DefaultCredentialsError:
        raise Unavailable(
            "no Google credentials: run `gcloud auth application-default login` (the Pulumi "
            "provider needs the same)"
        ) from None


def identity_tokens() -> Callable[[str], Any]:
    """Identity tokens for a private function, through google-auth: a service account's for the
    URL as audience; a user's own (Cloud Run accepts it from any member holding run.invoker)."""
    import google.auth
    from google.auth.transport.requests import Request
    from google.oauth2 import id_token

    from ops.auth import BearerToken

    request = Request()

    def token(url: str) -> BearerToken:
        audience = url.rstrip("/")
        try:
            return BearerToken(id_token.fetch_id_token(request, audience))
        except Exception:  # user credentials cannot mint one for an audience
            credentials, _ = google.auth.default()
            credentials.refresh(request)
            found = getattr(credentials, "id_token", None)
            if not found:
                raise Unavailable(
                    "the application-default credentials give no identity token: run `gcloud "
                    "auth application-default login`, or use a service account"
                ) from None
            return BearerToken(found)

    return token


def run_release(args: argparse.Namespace, stack: PulumiCli) -> int:
    outputs = stack.outputs()
    units = units_from(outputs, args.model)
    public, bucket = outputs.get("public") is True, str(outputs.get("bucket_name", ""))
    ports = {
        unit.function: google_ports(settings, bucket, public, unit.latency_p99_ms)
        for unit, settings in units
    }
    if args.dry_run:
        return print_release_plan(units, ports)
    for unit, _ in units:
        flow.prepare(unit, ports[unit.function])
    if not stack.up():
        say(f"the deploy failed; traffic did not move. {FIRST_DEPLOY_HELP}")
        return 1
    outputs = stack.outputs()
    deployed = {u.function: u for u, _ in units_from(outputs, args.model)}
    status = 0
    for unit, _ in units:
        unit = deployed.get(unit.function, unit)
        status = max(
            status, flow.release(unit, expectation(unit.model, outputs), ports[unit.function])
        )
    return status


def print_release_plan(
    units: Sequence[tuple[Unit, dict[str, Any]]], ports: dict[str, Ports]
) -> int:
    say("plan (--dry-run: nothing is changed)")
    say("  0. pin each function's traffic by revision name if it follows LATEST")
    say("  1. pulumi up --refresh: new revisions get no traffic")
    from gcp_release.cloud_run import ServiceMissing

    for unit, _ in units:
        try:
            serving = describe(pinned(ports[unit.function].service.state()))
        except ServiceMissing:
            serving = "nothing yet (its first revision will serve at once)"
        say(f"  {unit.label or ''}{unit.function}: serving {serving}")
        say("    2. tag the new revision 'candidate', run make verify's checks through its URL")
        if unit.canary_percent:
            say(
                f"    3. canary {unit.canary_percent}% for {unit.canary_minutes} min: its own 5xx, "
                f"p99 <= {unit.latency_p99_ms:g} ms, >= 10 requests; synthetic traffic to "
                f"{unit.url}"
            )
        say("    4. 100% to it by name; on any failure, traffic back to what serves now")
    return 0


def run_rollback(args: argparse.Namespace, stack: PulumiCli) -> int:
    outputs = stack.outputs()
    units = units_from(outputs, args.model)
    if len(units) > 1:
        names = ", ".join(str(u.model) for u, _ in units)
        raise Unavailable(f"the stack serves several models ({names}): name one with MODEL=<name>")
    [(unit, settings)] = units
    public, bucket = outputs.get("public") is True, str(outputs.get("bucket_name", ""))
    ports = google_ports(settings, bucket, public, unit.latency_p99_ms)
    if args.dry_run:
        state = ports.service.state()
        events, _ = ports.record.record(unit.function)
        from gcp_release.history import rollback_targets

        targets = [e.revision for e in rollback_targets(events, state.main_revision())]
        say(f"plan (--dry-run: nothing is changed) for {unit.function}")
        say(f"  serving: {describe(pinned(state))}")
        chosen = args.to or (targets[0] if targets else "nothing recorded: name one with TO=")
        say(f"  would move all traffic to {chosen} (checked through a tag if it serves nothing)")
        return 0
    return flow.rollback(unit, ports, args.to)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="release.py", description="Release or roll back a GCP stack (docs/operate.md)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in (
        ("release", "deploy, judge each new revision, canary it, give it the traffic"),
        ("rollback", "move a function's traffic back to an earlier revision"),
    ):
        command = commands.add_parser(name, help=summary)
        command.add_argument("--stack", required=True, help="the Pulumi stack")
        command.add_argument("--pulumi", default="pulumi", help="the Pulumi CLI to run")
        command.add_argument("--pulumi-flags", default="", help="extra flags for pulumi up")
        command.add_argument("--model", help="one model of a stack serving several (models.toml)")
        command.add_argument(
            "--dry-run", action="store_true", help="print the plan, change nothing"
        )
        if name == "rollback":
            command.add_argument("--to", help="the revision to serve (default: the previous one)")
    args = parser.parse_args(argv)
    try:
        stack = PulumiCli(args.stack, args.pulumi, shlex.split(args.pulumi_flags))
        if args.command == "release":
            return run_release(args, stack)
        return run_rollback(args, stack)
    except Unavailable as error:
        print(f"gcp-release: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
