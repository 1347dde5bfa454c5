"""checkov on the synthesized templates, once for this session.

checkov runs from a virtualenv of its own (`make checkov-venv`, which `make test` runs): its
dependency pins are many and must not decide the project's. One run scans fourteen files: the
templates of the tests' own settings (dev, prod, prod serving two models, and dev and prod
serving one of them from the model store), those this repository's cdk.json and models.toml give
(`live-dev`, `live-prod`), and the same seven with
every checkov skip removed, so the test can say both that nothing fails and that every skip
answers a finding that would otherwise fail.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CHECKOV = Path(__file__).resolve().parents[2] / ".venv-checkov" / "bin" / "checkov"


def _without_skips(template: dict[str, Any]) -> dict[str, Any]:
    stripped = json.loads(json.dumps(template))
    for resource in stripped["Resources"].values():
        resource.get("Metadata", {}).pop("checkov", None)
    return stripped


SCANNED = ["dev", "prod", "two-models", "store-dev", "store-prod", "live-dev", "live-prod"]


@pytest.fixture(scope="module")
def scan(
    dev,
    prod,
    two_model_app,
    store_dev_app,
    store_prod_app,
    live_dev,
    live_prod,
    tmp_path_factory,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Failed and skipped checks per scanned file (each of SCANNED, and `<name>-unskipped`)."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov-venv` (make test does)")
    folder = tmp_path_factory.mktemp("checkov")
    files = []
    for app in (dev, prod, two_model_app, store_dev_app, store_prod_app, live_dev, live_prod):
        for label, template in ((app.name, app.template), (f"{app.name}-unskipped", None)):
            path = folder / f"{label}.template.json"
            path.write_text(json.dumps(template or _without_skips(app.template)))
            files += ["-f", str(path)]
    run = subprocess.run(
        [str(CHECKOV), *files, "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(run.stdout)
    assert report["summary"]["parsing_errors"] == 0, run.stdout[-2000:]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for outcome in ("failed_checks", "skipped_checks"):
        for check in report["results"][outcome]:
            label = Path(check["file_path"]).name.removesuffix(".template.json")
            results.setdefault(label, {"failed_checks": [], "skipped_checks": []})
            results[label][outcome].append(check)
    return results


def _findings(checks: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(check["resource"], check["check_id"]) for check in checks}


@pytest.mark.parametrize("env", SCANNED)
def test_checkov_finds_nothing_unexplained(scan, env):
    found = scan.get(env, {"failed_checks": [], "skipped_checks": []})
    assert sorted(_findings(found["failed_checks"])) == []
    for check in found["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) >= 80, (
            f"{check['check_id']} on {check['resource']}: a reviewer needs a reason"
        )


@pytest.mark.parametrize("env", SCANNED)
def test_every_skip_answers_a_real_finding(scan, env):
    # Skips absent, exactly the skipped checks fail: no stale skip, no finding hidden elsewhere
    skipped = _findings(scan[env]["skipped_checks"])
    assert skipped == _findings(scan[f"{env}-unskipped"]["failed_checks"])


def test_prod_reserved_concurrency_answers_ckv_aws_115_without_a_skip(scan, prod):
    function = (f"AWS::Lambda::Function.{prod.function()[0]}", "CKV_AWS_115")
    assert function not in _findings(scan["prod"]["skipped_checks"])
    assert function in _findings(scan["dev"]["skipped_checks"])  # dev is unreserved
