"""make publish-model and make promote (ops/model_store.py) on moto's S3 and the local GCS.

Both stores enforce the preconditions themselves: moto 5.2.5's PutObject honours If-None-Match: *
and If-Match (412 PreconditionFailed; moto/s3/responses.py, put_object), and fake-gcs-server
honours ifGenerationMatch (412), so every conflict below is the store's own answer.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handler.store import ModelPrefix, StoreConflict, sha256_hex
from model import catalog
from ops import model_store
from ops.model_store import Refused, promote, publish, read_pointer
from tests.stores import Cloud

ARTIFACTS = Path(__file__).resolve().parents[2] / "model" / "artifacts"
V1 = json.loads((ARTIFACTS / "manifest.json").read_text())["version"]
KEYS = ModelPrefix("", "", "models/iris")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def same_version_other_bytes(retrained: Path, tmp_path: Path, version: str) -> Path:
    """A retrained model that claims an already published version."""
    out = shutil.copytree(retrained, tmp_path / "claims")
    for name, path in (("manifest.json", ("version",)), ("reference.json", ("model", "version"))):
        document = json.loads((out / name).read_text())
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = version
        (out / name).write_text(json.dumps(document))
    return out


def test_publish_uploads_the_artifacts_reference_then_manifest(store: Cloud) -> None:
    published = publish(store.store, "iris", ARTIFACTS)
    folder = f"models/iris/versions/{V1}/"
    assert published.uploaded == tuple(
        folder + f for f in ("model.joblib", "model.onnx", "reference.json", "manifest.json")
    )
    assert published.sha256 == sha256_hex((ARTIFACTS / "manifest.json").read_bytes())
    assert store.store.read(folder + "model.onnx") == (ARTIFACTS / "model.onnx").read_bytes()


def test_publishing_the_same_bytes_again_changes_nothing(store: Cloud) -> None:
    publish(store.store, "iris", ARTIFACTS)
    assert publish(store.store, "iris", ARTIFACTS).uploaded == ()


def test_a_published_version_is_immutable(store: Cloud, iris_v2: Path, tmp_path: Path) -> None:
    publish(store.store, "iris", ARTIFACTS)
    impostor = same_version_other_bytes(iris_v2, tmp_path, V1)
    with pytest.raises(Refused, match=f"version {V1} of iris is published and immutable"):
        publish(store.store, "iris", impostor)
    stored = store.store.read(KEYS.version_key(V1, "model.onnx"))
    assert stored == (ARTIFACTS / "model.onnx").read_bytes()


def test_publish_refuses_artifacts_that_fail_their_manifest(store: Cloud, model_copy: Path) -> None:
    joblib = model_copy / "model.joblib"
    joblib.write_bytes(joblib.read_bytes()[:-1] + b"\x00")
    with pytest.raises(Refused, match="does not match the manifest"):
        publish(store.store, "iris", model_copy)
    assert store.store.read_versioned(KEYS.version_key(V1, "model.onnx")) is None


def test_publish_refuses_a_stale_reference(store: Cloud, model_copy: Path, iris_v2: Path) -> None:
    shutil.copy(iris_v2 / "reference.json", model_copy / "reference.json")
    with pytest.raises(Refused, match="stale reference"):
        publish(store.store, "iris", model_copy)


def test_first_promotion_creates_the_pointer_and_records_it(store: Cloud) -> None:
    publish(store.store, "iris", ARTIFACTS)
    promotion = promote(store.store, "iris", V1, actor="ci", now=lambda: NOW)
    assert (promotion.before, promotion.after.version) == (None, V1)
    pointer = json.loads(store.store.read(KEYS.pointer_key))
    assert pointer == {
        "version": V1,
        "sha256": sha256_hex((ARTIFACTS / "manifest.json").read_bytes()),
        "promoted_at": "2026-12-01T09:30:00Z",
        "promoted_by": "ci",
        "previous": None,
    }
    record = json.loads(store.store.read(promotion.record))
    assert promotion.record == f"models/iris/promotions/2026-12-01T093000Z-{V1}.json"
    assert (record["before"], record["after"]["version"], record["by"]) == (None, V1, "ci")


def test_promote_then_roll_back_moves_the_pointer_each_way(store: Cloud, iris_v2: Path) -> None:
    publish(store.store, "iris", ARTIFACTS)
    publish(store.store, "iris", iris_v2)
    promote(store.store, "iris", V1)
    forward = promote(store.store, "iris", "1.1.0")
    assert (forward.before.version, forward.after.version) == (V1, "1.1.0")
    back = promote(store.store, "iris", V1)  # rolling back is promoting the previous version
    assert (back.before.version, back.after.version) == ("1.1.0", V1)
    assert read_pointer(store.store, "iris").version == V1
    assert json.loads(store.store.read(KEYS.pointer_key))["previous"]["version"] == "1.1.0"


def test_promoting_what_the_pointer_names_changes_nothing(store: Cloud) -> None:
    publish(store.store, "iris", ARTIFACTS)
    promote(store.store, "iris", V1)
    again = promote(store.store, "iris", V1)
    assert not again.changed and again.record is None


def test_promote_refuses_an_unpublished_version(store: Cloud) -> None:
    with pytest.raises(Refused, match=r"version 9\.9\.9 is not"):
        promote(store.store, "iris", "9.9.9")
    assert read_pointer(store.store, "iris") is None


def test_promote_refuses_a_version_altered_in_the_store(store: Cloud) -> None:
    publish(store.store, "iris", ARTIFACTS)
    store.overwrite(KEYS.version_key(V1, "model.joblib"), b"not a model")
    with pytest.raises(Refused, match="does not verify"):
        promote(store.store, "iris", V1)


class Racing:
    """The store as a promotion sees it while another promotion lands between its read of the
    pointer and its write."""

    def __init__(self, cloud: Cloud, version: str) -> None:
        self.inner, self.version, self.raced = cloud.store, version, False

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def read_versioned(self, key: str):
        found = self.inner.read_versioned(key)
        if key == KEYS.pointer_key and not self.raced:
            self.raced = True
            promote(self.inner, "iris", self.version)
        return found


@pytest.mark.parametrize("first", [True, False], ids=["first-promotion", "later-promotion"])
def test_two_promotions_never_interleave(
    store: Cloud, iris_v2: Path, tmp_path: Path, first: bool
) -> None:
    for artifacts in (ARTIFACTS, iris_v2, same_version_other_bytes(iris_v2, tmp_path, "1.2.0")):
        publish(store.store, "iris", artifacts)
    if not first:
        promote(store.store, "iris", V1)
    # WHEN a promotion to 1.1.0 lands while this one (to 1.2.0) is between its read and write
    racing = Racing(store, "1.1.0")
    with pytest.raises(Refused, match="changed while this promotion ran"):
        promote(racing, "iris", "1.2.0")
    # THEN the other promotion's pointer stands
    assert read_pointer(store.store, "iris").version == "1.1.0"


def test_store_preconditions(store: Cloud) -> None:
    store.store.create("k", b"1", "text/plain")
    with pytest.raises(StoreConflict):
        store.store.create("k", b"2", "text/plain")
    _, token = store.store.read_versioned("k")
    store.store.replace("k", b"3", "text/plain", token)
    with pytest.raises(StoreConflict):
        store.store.replace("k", b"4", "text/plain", token)  # stale token
    with pytest.raises(StoreConflict):
        store.store.replace("k", b"5", "text/plain", None)  # "only if absent"
    assert store.store.read("k") == b"3"


@pytest.fixture
def first_model() -> catalog.ModelEntry:
    """The first model models.toml declares (whichever it is)."""
    return catalog.load().models[0]


def test_cli_publishes_promotes_and_reports_before_and_after(
    s3: Cloud, first_model: catalog.ModelEntry, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--model", first_model.name, "--store", f"s3://{s3.bucket}"]
    assert model_store.main(["publish", *target]) == 0
    version = json.loads((first_model.artifacts / "manifest.json").read_text())["version"]
    assert f"published version {version}" in capsys.readouterr().out
    assert model_store.main(["promote", *target, "--version", version, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["before"], answer["after"]["version"], answer["changed"]) == (
        None,
        version,
        True,
    )
    # Refused (exit 1) versus could not run (exit 2)
    assert model_store.main(["promote", *target, "--version", "0.0.0-missing"]) == 1
    assert "is not (completely) published" in capsys.readouterr().err
    assert model_store.main(["publish", "--model", "nosuchmodel", "--store", "s3://b"]) == 2
    assert model_store.main(["publish", "--model", first_model.name, "--store", "ftp://b"]) == 2


def test_a_deploy_pins_what_the_deployed_stacks_pointers_name(s3: Cloud) -> None:
    # GIVEN a deployed stack whose ModelStoreBucket output names the store, one model promoted
    import boto3

    publish(s3.store, "iris", ARTIFACTS)
    promote(s3.store, "iris", V1)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {model_store.AWS_OUTPUT: {"Value": s3.bucket}},
    }
    session = boto3.Session(region_name="us-east-1")
    session.client("cloudformation").create_stack(StackName="S", TemplateBody=json.dumps(template))
    pinned = model_store.stack_pointers(session, "S", ["iris", "wine"])
    assert pinned == {"iris": read_pointer(s3.store, "iris"), "wine": None}
    # A stack not deployed yet (its first deploy) pins nothing
    assert model_store.stack_pointers(session, "NotYet", ["iris"]) == {"iris": None}
