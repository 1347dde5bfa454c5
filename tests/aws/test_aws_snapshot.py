"""The templates `cdk synth` writes from this repository's cdk.json and models.toml, held to their
snapshots. A handler or model edit changes only masked values (asset hashes, the version's
logical-ID suffix); anything else is an infrastructure change: review it, then run
`make snapshots` and read the diff (`git diff tests/`) before committing it."""

from __future__ import annotations

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

pytestmark = pytest.mark.slow

UPDATE = "the template changed: if the infrastructure change below is intended, run `make snapshots` and review `git diff tests/`"


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_template_matches_snapshot(apps, json_snapshot, mask, env):
    assert mask(apps[f"live-{env}"].template) == json_snapshot, UPDATE
