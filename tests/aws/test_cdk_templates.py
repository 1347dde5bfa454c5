"""scripts/cdk_templates.py: what `make synth` prints and `make checkov` scans, whatever a fork
calls its stacks."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _module():
    spec = importlib.util.spec_from_file_location(
        "cdk_templates", ROOT / "scripts/cdk_templates.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cdk_templates"] = module
    spec.loader.exec_module(module)
    return module


cdk_templates = _module()


def test_the_templates_are_the_stacks_the_manifest_lists(live_prod):
    # GIVEN what `cdk synth` wrote for this repository's prod, whatever its stack is called
    found = cdk_templates.templates(live_prod.outdir)
    assert found == [live_prod.outdir / f"{live_prod.settings.stack_name}.template.json"]
    assert all(path.is_file() for path in found)


def test_no_manifest_or_no_stack_stops_with_what_to_do(tmp_path):
    with pytest.raises(SystemExit, match="run `make synth` first"):
        cdk_templates.templates(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": {"Tree": {"type": "x"}}}))
    with pytest.raises(SystemExit, match="lists no stack"):
        cdk_templates.templates(tmp_path)


@pytest.mark.slow
def test_the_checkov_gate_fails_when_it_parsed_nothing(tmp_path, capsys):
    # checkov itself exits 0 on a template it cannot read: the gate must not
    unreadable = tmp_path / "Renamed.template.json"
    unreadable.write_text('{"Resources": 5}')
    assert cdk_templates.checkov(str(CHECKOV), [unreadable]) == 1
    assert "0 resource(s) scanned" in capsys.readouterr().out
