"""A reviewable snapshot of each stack's resource graph, as this repository's files make it.

The only GCP tests that compare the live Pulumi.yaml, Pulumi.<stack>.yaml, models.toml and model
directories with fixed values: a fork that changes them updates these snapshots (`make
snapshots`) and reviews the diff; every other test follows whatever those files say.

Type, name, parent, aliases and the inputs that matter; the content hash and local paths are
masked, so the snapshot changes when the infrastructure changes, not when the handler does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from program_runs import STACKS, Graph, Resource

SHA256 = re.compile(r"[0-9a-f]{64}")
# Inputs holding a JSON document: decoded, so a change shows as a readable diff.
JSON_INPUTS = {"dashboardJson"}
# Provider-side bookkeeping that says nothing about the deployment.
IGNORED_INPUTS = {"__defaults"}
# Attributes the test mocks compute (not inputs the program sets).
COMPUTED = {
    "gcp:serviceaccount/account:Account": {"email", "member"},
    "gcp:artifactregistry/repository:Repository": {"name"},
    "gcp:cloudfunctionsv2/function:Function": {"url"},
    "gcp:monitoring/alertPolicy:AlertPolicy": {"name"},
    "gcp:monitoring/notificationChannel:NotificationChannel": {"name"},
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": {"uptimeCheckId"},
    "gcp:projects/serviceIdentity:ServiceIdentity": {"email", "member"},
}


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("asset") == "file":
            return {"asset": "file", "path": "<build>/<function>/source-<sha256>.zip"}
        return {
            k: mask(json.loads(v) if k in JSON_INPUTS else v)
            for k, v in sorted(value.items())
            if k not in IGNORED_INPUTS
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return SHA256.sub("<sha256>", value)
    return value


def short(urn: str) -> str:
    """`urn:pulumi:dev::proj::a$b::name` -> `b::name` (the resource's own type and name)."""
    if not urn:
        return ""
    type_path, name = urn.split("::")[-2:]
    return f"{type_path.split('$')[-1]}::{name}"


def program_aliases(resource: Resource) -> list[dict[str, str]]:
    """The aliases the program declares (an earlier name), not the SDK's own type aliases."""
    return [alias for alias in resource.aliases if alias.get("name") or alias.get("urn")]


def describe(graph: Graph) -> list[dict[str, Any]]:
    rows = [
        {
            "type": r.type,
            "name": r.name,
            "parent": short(r.parent),
            "depends_on": sorted(short(d) for d in r.dependencies),
            **({"aliases": renamed} if (renamed := program_aliases(r)) else {}),
            **({"protect": True} if r.protect else {}),
            **({"retain_on_delete": True} if r.retain_on_delete else {}),
            "inputs": mask(
                {k: v for k, v in r.state.items() if k not in COMPUTED.get(r.type, set())}
            ),
        }
        for r in graph.resources
    ]
    return sorted(rows, key=lambda row: (row["type"], row["name"]))


@pytest.mark.parametrize("stack", STACKS)
def test_resource_graph_matches_snapshot(live_graphs, stack, snapshot):
    assert {
        "stack": stack,
        "resources": describe(live_graphs[stack]),
        "outputs": mask(live_graphs[stack].outputs),
    } == snapshot, "the stack changed: review it, then update the snapshots with `make snapshots`"
