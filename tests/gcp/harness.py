"""Run the Pulumi program under mocks the way `pulumi up` would, and print its resource graph.

    python tests/gcp/harness.py pulumi_gcp/Pulumi.<stack>.yaml [key=value ...]   (`key=` unsets)
    python tests/gcp/harness.py <run.json>

A stack file runs as `pulumi preview` would run it: in the project its Pulumi.yaml names, with
its config plus the overrides (a key without a namespace is the project's), and gcp:project
acme-ml-test unless the file sets one. run.json gives all of it instead, as the tests' own runs
do (tests/gcp/program_runs.py): {"project": ..., "stack": ..., "config": {<namespaced key>:
<string value>}}.

Each run is its own process: Pulumi's runtime settings, root stack and config are process-wide,
so separate processes are the clean way to run the dev and prod stacks side by side. Like the
Pulumi language host, it runs `__main__.py` with pulumi_gcp/ as the working directory and as
sys.path[0] (the repository root is not on sys.path: the program adds it itself), and reports a
`pulumi.RunError` as its message alone, with exit status 1 (anything else: a traceback).

Prints JSON: {"project", "stack", "config" (what the program was given), "resources": [{urn,
type, name, parent, dependencies, aliases, custom, protect, retain_on_delete, id, state}],
"outputs": {...}}. Provider-computed attributes (e-mails, URLs) come from `Recorder`.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

PROGRAM_DIR = Path(__file__).resolve().parents[2] / "pulumi_gcp"
sys.path[0] = str(PROGRAM_DIR)

import pulumi  # noqa: E402
import yaml  # noqa: E402
from pulumi.runtime.mocks import MockMonitor  # noqa: E402
from pulumi.runtime.stack import run_pulumi_func  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

TEST_PROJECT = "acme-ml-test"  # gcp:project unless the run's config sets it


class Recorder(pulumi.runtime.Mocks):
    """Echo inputs back as state, adding what the provider would compute."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        project = state.get("project", TEST_PROJECT)
        if args.typ == "gcp:serviceaccount/account:Account":
            email = f"{state['accountId']}@{project}.iam.gserviceaccount.com"
            state.update(email=email, member=f"serviceAccount:{email}")
            return f"projects/{project}/serviceAccounts/{email}", state
        if args.typ == "gcp:storage/bucket:Bucket":
            state.setdefault("name", f"{args.name}-0a1b2c3")  # Pulumi's auto-name suffix
        if args.typ == "gcp:cloudfunctionsv2/function:Function":
            url = f"https://{state['location']}-{project}.cloudfunctions.net/{state['name']}"
            state["url"] = url
            # The Cloud Run service's own URL, as the provider reports it.
            state["serviceConfig"] = {
                **state.get("serviceConfig", {}),
                "uri": f"https://{state['name']}-abc123def4-uc.a.run.app",
            }
        if args.typ == "gcp:projects/serviceIdentity:ServiceIdentity":
            email = f"service-123456789@gcp-sa-{state['service'].split('.')[0]}-notification"
            email += ".iam.gserviceaccount.com"
            state.update(email=email, member=f"serviceAccount:{email}")
        if args.typ == "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            state["uptimeCheckId"] = f"{args.name}-0a1b2c3d"
        if args.typ == "gcp:artifactregistry/repository:Repository":
            repository = (
                f"projects/{project}/locations/{state['location']}"
                f"/repositories/{state['repositoryId']}"
            )
            state["name"] = repository
            return repository, state
        if args.typ == "gcp:monitoring/dashboard:Dashboard":
            return f"projects/123456789/dashboards/{args.name}", state
        if args.typ in ("gcp:monitoring/alertPolicy:AlertPolicy",):
            state["name"] = f"projects/{project}/alertPolicies/{args.name}"
        if args.typ == "gcp:monitoring/notificationChannel:NotificationChannel":
            channel = f"projects/{project}/notificationChannels/{args.name}"
            state["name"] = channel
            return channel, state
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        raise AssertionError(f"the program must not call data sources: {args.token}")


class GraphMonitor(MockMonitor):
    """Also records each registration's parent, explicit dependencies and aliases."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.edges: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        self.edges[response.urn] = {
            "type": request.type,
            "name": request.name,
            "parent": request.parent,
            "dependencies": sorted(request.dependencies),
            "aliases": [_alias(alias) for alias in request.aliases],
            "custom": request.custom,
            "protect": request.protect,
            "retain_on_delete": request.retainOnDelete,
        }
        return response


def _alias(alias: Any) -> dict[str, str]:
    """An alias as the engine receives it: a full URN, or a spec (name, type, parent URN)."""
    if alias.HasField("spec"):
        spec = alias.spec
        return {"name": spec.name, "type": spec.type, "parent": spec.parentUrn}
    return {"urn": alias.urn}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, pulumi.FileAsset):
        return {"asset": "file", "path": value.path}
    return value


def run_of(argv: list[str]) -> dict[str, Any]:
    """The project, stack and config to run: a run.json, or a stack file and overrides."""
    path = Path(argv[0]).resolve()
    if path.suffix == ".json":
        run: dict[str, Any] = json.loads(path.read_text())
        return run
    project = yaml.safe_load((path.parent / "Pulumi.yaml").read_text())["name"]
    settings = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    config = {"gcp:project": TEST_PROJECT} | {k: _string(v) for k, v in settings.items()}
    for override in argv[1:]:
        key, _, value = override.partition("=")
        key = key if ":" in key else f"{project}:{key}"
        if value:
            config[key] = value
        else:
            config.pop(key, None)
    return {"project": project, "stack": path.stem.split(".", 1)[1], "config": config}


def _string(value: Any) -> str:
    """A stack file's value as the Pulumi CLI hands it to the program."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def main(argv: list[str]) -> int:
    run = run_of(argv)
    monitor = GraphMonitor(Recorder())
    pulumi.runtime.set_mocks(
        Recorder(), project=run["project"], stack=run["stack"], preview=False, monitor=monitor
    )
    pulumi.runtime.set_all_config(run["config"])

    os.chdir(PROGRAM_DIR)
    if "STORAGE_EMULATOR_HOST" not in os.environ:
        # A store model's pointers come from the tests' GCS fake, or from nowhere: never from a
        # real bucket with whatever credentials this machine holds. Nothing promoted yet.
        sys.path.insert(1, str(PROGRAM_DIR.parent))  # as __main__.py does, for handler/
        import model_store

        model_store.read_pointers = lambda bucket, names: dict.fromkeys(names)
    try:
        _sync_await(
            run_pulumi_func(
                lambda: runpy.run_path(str(PROGRAM_DIR / "__main__.py"), run_name="__main__")
            )
        )
    except pulumi.RunError as error:  # what pulumi-language-python-exec does with one
        print(str(error), file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # At once, as the language host does: the aborted run leaves Pulumi's event loop
        # half-closed, and the interpreter's shutdown would sometimes print its "Exception
        # ignored in BaseEventLoop.__del__" traceback, which is the harness's, not the program's.
        os._exit(1)
    root = pulumi.runtime.get_root_resource()
    outputs = _sync_await(pulumi.Output.from_input(root.outputs).future())

    resources = []
    for urn, registration in monitor.resources.items():
        edge = monitor.edges[urn]
        resources.append(
            {
                "urn": urn,
                **edge,
                "id": registration.id,
                "state": _jsonable(registration.state),
            }
        )
    graph = {"resources": resources, "outputs": _jsonable(outputs)}
    json.dump(run | graph, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
