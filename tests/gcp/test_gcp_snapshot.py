"""A reviewable snapshot of each example stack's resource graph.

Type, name, parent and the inputs that matter; the content hash and local paths are masked, so
the snapshot changes when the infrastructure changes, not when the handler or model does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import STACKS, Graph

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


def describe(graph: Graph) -> list[dict[str, Any]]:
    rows = [
        {
            "type": r.type,
            "name": r.name,
            "parent": short(r.parent),
            "depends_on": sorted(short(d) for d in r.dependencies),
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
def test_resource_graph_matches_snapshot(graphs, stack, snapshot):
    assert {
        "stack": stack,
        "resources": describe(graphs[stack]),
        "outputs": mask(graphs[stack].outputs),
    } == snapshot
