"""Run the Pulumi program under mocks the way `pulumi up` would, and print its resource graph.

    python tests/gcp/harness.py <Pulumi.<stack>.yaml> [key=value ...]   (`key=` unsets key)

Each run is its own process: Pulumi's runtime settings, root stack and config are process-wide,
so separate processes are the clean way to run the dev and prod stacks side by side. Like the
Pulumi language host, it runs `__main__.py` with pulumi_gcp/ as the working directory and as
sys.path[0] (the repository root is not on sys.path: the program adds it itself).

Prints JSON: {"resources": [{urn, type, name, parent, dependencies, custom, protect,
retain_on_delete, id, state}], "outputs": {...}}. Provider-computed attributes (e-mails, URLs)
come from `Recorder`.
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

PROJECT = "sklearn-inference-gcp"
TEST_PROJECT = "acme-ml-test"


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
    """Also records each registration's parent and explicit dependencies."""

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
            "custom": request.custom,
            "protect": request.protect,
            "retain_on_delete": request.retainOnDelete,
        }
        return response


def config_values(stack_file: Path, overrides: list[str]) -> dict[str, str]:
    """Pulumi.<stack>.yaml as `set_all_config` wants it: namespaced keys, string values."""
    raw = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    values = {"gcp:project": TEST_PROJECT}
    for key, value in raw.items():
        values[key] = _config_string(value)
    for override in overrides:
        key, _, value = override.partition("=")
        key = key if ":" in key else f"{PROJECT}:{key}"
        if value:
            values[key] = value
        else:  # `key=` removes the key: the program's default applies
            values.pop(key, None)
    return values


def _config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, pulumi.FileAsset):
        return {"asset": "file", "path": value.path}
    return value


def main(argv: list[str]) -> None:
    stack_file = Path(argv[0]).resolve()
    stack = stack_file.stem.split(".", 1)[1]
    monitor = GraphMonitor(Recorder())
    pulumi.runtime.set_mocks(
        Recorder(), project=PROJECT, stack=stack, preview=False, monitor=monitor
    )
    pulumi.runtime.set_all_config(config_values(stack_file, argv[1:]))

    os.chdir(PROGRAM_DIR)
    _sync_await(
        run_pulumi_func(
            lambda: runpy.run_path(str(PROGRAM_DIR / "__main__.py"), run_name="__main__")
        )
    )
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
    json.dump({"resources": resources, "outputs": _jsonable(outputs)}, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
