"""The release tool's command line (pulumi_gcp/release.py), its reading of the stack outputs,
its bucket adapter, and its clear failure when the Pulumi CLI or credentials are absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fake_google import FakeCloudRun
from program_modules import PROGRAM_DIR, load_release_tool
from program_runs import REPO_ROOT

release_cli = load_release_tool()
from gcp_release import flow  # noqa: E402
from gcp_release.cloud_run import CloudRun  # noqa: E402
from gcp_release.history import Event  # noqa: E402
from gcp_release.storage import Bucket, StaleRecord  # noqa: E402


def model_outputs(name: str, percent: int = 10) -> dict:
    function = f"sklearn-inference-prod-{name}"
    return {
        "url": f"https://us-central1-acme.cloudfunctions.net/{function}",
        "function_name": function,
        "source_object": f"{function}/source-{name}.zip",
        "release": {
            "project": "acme",
            "region": "us-central1",
            "service": function,
            "canary_percent": percent,
            "canary_minutes": 5,
            "latency_p99_ms": 1500,
        },
    }


def test_each_model_of_the_stack_outputs_is_a_unit_with_its_own_release_settings():
    outputs = {"models": {"iris": model_outputs("iris"), "wine": model_outputs("wine", 0)}}
    units = {u.model: (u, s) for u, s in release_cli.units_from(outputs)}
    assert set(units) == {"iris", "wine"}
    wine, settings = units["wine"]
    assert (wine.function, wine.canary_percent, wine.latency_p99_ms) == (
        "sklearn-inference-prod-wine",
        0,
        1500,
    )
    assert settings["service"] == wine.function
    [(only, _)] = release_cli.units_from(outputs, "iris")
    assert only.model == "iris"


def test_a_model_the_stack_does_not_serve_is_refused():
    outputs = {"models": {"iris": model_outputs("iris")}}
    with pytest.raises(flow.Unavailable, match=r"serves no model 'beer' \(it serves iris\)"):
        release_cli.units_from(outputs, "beer")


def test_a_stack_deployed_before_the_release_outputs_says_to_deploy_first():
    with pytest.raises(flow.Unavailable, match="make deploy-gcp"):
        release_cli.units_from({"url": "https://x", "function_name": "fn"})


def test_a_dry_run_prints_the_plan_and_changes_nothing(capsys):
    run = FakeCloudRun.serving(
        "sklearn-inference-prod-iris", "sklearn-inference-prod-iris-00001-abc"
    )
    [(unit, _)] = release_cli.units_from({"models": {"iris": model_outputs("iris")}})
    ports = flow.Ports(
        service=CloudRun(run, run, "acme-ml-test", "us-central1", unit.function),
        record=None,  # type: ignore[arg-type]
        metrics=None,  # type: ignore[arg-type]
        probe=None,  # type: ignore[arg-type]
        say=release_cli.say,
        clock=lambda: 0.0,
        sleep=lambda s: None,
    )
    assert release_cli.print_release_plan([(unit, {})], {unit.function: ports}) == 0
    out = capsys.readouterr().out
    assert "serving 100% sklearn-inference-prod-iris-00001-abc" in out
    assert "canary 10% for 5 min" in out and "traffic back to what serves now" in out
    assert run.updates == []


# --- the bucket: release record and bundle stamps ---------------------------------------------


@dataclass
class FakeBlob:
    """A google.cloud.storage Blob: generation, customTime, timeCreated, preconditions."""

    name: str
    store: dict
    data: bytes = b""
    generation: int = 0
    time_created: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    custom_time: datetime | None = None
    patched: int = 0

    def download_as_bytes(self) -> bytes:
        return self.data

    def upload_from_string(self, body, content_type=None, if_generation_match=None):
        from google.api_core.exceptions import PreconditionFailed

        current = self.store.get(self.name)
        if (current.generation if current else 0) != if_generation_match:
            raise PreconditionFailed("conditionNotMet")
        self.data, self.generation = body.encode(), (if_generation_match or 0) + 1
        self.store[self.name] = self

    def patch(self) -> None:
        self.patched += 1


@dataclass
class FakeBucket:
    name: str = "sources-0a1b2c3"
    blobs: dict = field(default_factory=dict)

    def get_blob(self, name):
        return self.blobs.get(name)

    def blob(self, name):
        return self.blobs.get(name) or FakeBlob(name, self.blobs)

    def list_blobs(self, prefix):
        return [b for n, b in sorted(self.blobs.items()) if n.startswith(prefix)]


class FakeStorage:
    def __init__(self, bucket: FakeBucket):
        self._bucket = bucket

    def bucket(self, name):
        return self._bucket


def test_the_release_record_is_written_only_over_what_was_read():
    storage = FakeBucket()
    bucket = Bucket(FakeStorage(storage), storage.name)
    events, generation = bucket.record("fn")
    assert (events, generation) == ([], 0)
    bucket.append("fn", [Event("t1", "released", "fn-00001-abc")], generation)
    assert bucket.record("fn") == ([Event("t1", "released", "fn-00001-abc")], 1)
    # another operator wrote meanwhile: the stale write is refused, not merged away
    with pytest.raises(StaleRecord, match="someone else released or rolled back"):
        bucket.append("fn", [Event("t2", "released", "fn-00002-abc")], generation)
    assert json.loads(storage.blobs["releases/fn.json"].data)["events"][0]["revision"] == (
        "fn-00001-abc"
    )


def test_bundles_that_matter_are_stamped_now_and_others_from_their_upload():
    storage = FakeBucket()
    now = datetime(2026, 5, 4, tzinfo=UTC)
    kept = FakeBlob("fn/source-a.zip", storage.blobs, custom_time=now - timedelta(days=80))
    other = FakeBlob("fn/source-b.zip", storage.blobs)
    stamped_before = FakeBlob("fn/source-c.zip", storage.blobs, custom_time=now - timedelta(days=5))
    for blob in (kept, other, stamped_before):
        storage.blobs[blob.name] = blob
    Bucket(FakeStorage(storage), storage.name).stamp("fn", {"fn/source-a.zip"}, now)
    # still needed: its 90 days start again now
    assert kept.custom_time == now
    # never stamped: it expires 90 days after its upload
    assert other.custom_time == other.time_created
    # customTime never moves back
    assert stamped_before.custom_time == now - timedelta(days=5) and stamped_before.patched == 0


# --- absent tools and credentials -------------------------------------------------------------


def test_missing_pulumi_cli_is_a_clear_error_before_anything_runs(capsys):
    assert release_cli.main(["rollback", "--stack", "prod", "--pulumi", "no-such-pulumi"]) == 2
    error = capsys.readouterr().err
    assert "the Pulumi CLI ('no-such-pulumi') is not installed or not on PATH" in error
    assert "https://www.pulumi.com/docs/install/" in error


def test_missing_google_credentials_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file there
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # do not probe a metadata server
    settings = model_outputs("iris")["release"]
    with pytest.raises(flow.Unavailable, match="gcloud auth application-default login"):
        release_cli.google_ports(settings, "bucket", public=False, p99_ms=1000)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["release-gcp", "rollback-gcp"])
def test_make_targets_stop_with_a_clear_message_without_the_pulumi_cli(target):
    completed = subprocess.run(
        ["make", "--no-print-directory", target, "STACK=prod", "PULUMI=no-such-pulumi"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode != 0
    assert "the Pulumi CLI ('no-such-pulumi') is not installed" in completed.stderr


@pytest.mark.parametrize(
    ("variable", "flag"),
    [
        ("TO=fn-00002-kev", "--to 'fn-00002-kev'"),
        ("MODEL=wine", "--model 'wine'"),
        ("DRY_RUN=1", "--dry-run"),
    ],
)
def test_make_rollback_passes_the_stack_and_the_chosen_revision_model_or_dry_run(variable, flag):
    completed = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "rollback-gcp", "STACK=prod", variable],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "pulumi_gcp/release.py rollback --stack prod --pulumi pulumi" in completed.stdout
    assert flag in completed.stdout


@pytest.mark.slow
def test_the_script_runs_as_a_file_outside_the_program(tmp_path):
    # Run the way the Makefile does, with no PYTHONPATH and a PATH without pulumi.
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, str(PROGRAM_DIR / "release.py"), "release", "--stack", "dev"],
        cwd=REPO_ROOT,
        env=env | {k: v for k, v in os.environ.items() if k == "SYSTEMROOT"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert "the Pulumi CLI ('pulumi') is not installed" in completed.stderr
