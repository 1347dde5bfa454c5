"""The model store on Google Cloud: the bucket, the store model's own account and grant, and the
pointer `pulumi up` reads from the local GCS (tests/stores.py) and pins in the function.

The program runs under mocks in a process of its own (program_runs.py), which inherits the test's
STORAGE_EMULATOR_HOST: its pointer read is google-cloud-storage against the local GCS.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from program_runs import GCP_PROJECT, Graph, Program, write_fake_root

from tests.stores import Cloud

BUCKET = "gcp:storage/bucket:Bucket"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake tree (program_runs.py) with its one model served from the store."""
    root = write_fake_root(tmp_path_factory.mktemp("store-source"))
    (root / "handler" / "requirements" / "gcs.txt").write_text("google-cloud-storage==3.17.1\n")
    (root / "models.toml").write_text('[models.iris]\npath = "model"\nsource = "store"\n')
    return root


def manifest_sha(root: Path) -> str:
    return hashlib.sha256((root / "model" / "artifacts" / "manifest.json").read_bytes()).hexdigest()


def promoted(gcs: Cloud, root: Path) -> Cloud:
    """The store with a pointer naming the fake model's version, as make promote writes it."""
    pointer = {"version": "0", "sha256": manifest_sha(root)}
    gcs.overwrite("models/iris/current.json", json.dumps(pointer).encode())
    return gcs


def run(program: Program, stack: str, root: Path, bucket: str) -> Graph:
    return program(stack, f"modelStoreBucket={bucket}", models=root / "models.toml")


def function_env(graph: Graph) -> dict[str, str]:
    return graph.one(FUNCTION).state["serviceConfig"]["environmentVariables"]


def test_store_model_is_pinned_to_the_pointer_pulumi_up_read(
    program: Program, store_root: Path, gcs: Cloud
) -> None:
    graph = run(program, "dev", store_root, promoted(gcs, store_root).bucket)
    env = function_env(graph)
    assert env["MODEL_SOURCE"] == "store"
    assert env["MODEL_STORE"] == f"gs://{gcs.bucket}/models/iris"
    assert (env["MODEL_VERSION"], env["MODEL_SHA256"]) == ("0", manifest_sha(store_root))
    assert graph.outputs["model_store_bucket"] == gcs.bucket
    assert graph.outputs["models"]["iris"]["model_store"] == f"gs://{gcs.bucket}/models/iris"
    assert graph.outputs["models"]["iris"]["model_version"] == "0"


def served_from_its_bundle(graph: Graph) -> bool:
    """Served as an image model: no store in its environment, its artifacts in its bundle."""
    archive = graph.one("gcp:storage/bucketObject:BucketObject")
    with zipfile.ZipFile(archive.state["source"]["path"]) as bundle:
        shipped = [n for n in bundle.namelist() if n.startswith("model/")]
    return "MODEL_SOURCE" not in function_env(graph) and bool(shipped)


def test_store_model_serves_its_bundle_until_a_version_is_promoted(
    program: Program, store_root: Path, gcs: Cloud
) -> None:
    graph = run(program, "dev", store_root, gcs.bucket)
    assert served_from_its_bundle(graph)
    assert graph.outputs["model_store_bucket"] == gcs.bucket  # there to publish to
    assert "model_store" not in graph.outputs["models"]["iris"]


def test_first_deploy_before_the_bucket_exists_serves_its_bundle(
    program: Program, store_root: Path, gcs: Cloud
) -> None:
    assert served_from_its_bundle(run(program, "dev", store_root, f"{gcs.bucket}-not-yet"))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_store_bucket_is_versioned_private_and_kept_in_prod(
    program: Program, store_root: Path, gcs: Cloud, stack: str
) -> None:
    graph = run(program, stack, store_root, gcs.bucket)
    (store,) = [b for b in graph.of_type(BUCKET) if b.state.get("name") == gcs.bucket]
    assert store.state["versioning"] == {"enabled": True}
    assert store.state["uniformBucketLevelAccess"] is True
    assert store.state["publicAccessPrevention"] == "enforced"
    kept = stack == "prod"  # deletionProtection: prod's default, off in dev
    assert (store.protect, store.retain_on_delete, store.state["forceDestroy"]) == (
        kept,
        kept,
        not kept,
    )


def test_store_models_function_reads_its_own_prefix_only(
    program: Program, store_root: Path, gcs: Cloud
) -> None:
    graph = run(program, "dev", store_root, promoted(gcs, store_root).bucket)
    reader = graph.one("gcp:serviceaccount/account:Account", "model-store-reader")
    assert reader.state["accountId"] == "sklearn-inference-dev-read"
    email = f"sklearn-inference-dev-read@{GCP_PROJECT}.iam.gserviceaccount.com"
    assert graph.one(FUNCTION).state["serviceConfig"]["serviceAccountEmail"] == email
    (grant,) = [
        g
        for g in graph.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        if g.state["member"] == f"serviceAccount:{email}"
    ]
    assert grant.state["role"] == "roles/storage.objectViewer"
    assert grant.state["condition"]["expression"] == (
        f'resource.name.startsWith("projects/_/buckets/{gcs.bucket}/objects/models/iris/")'
    )
    # The function waits until its grants have propagated
    function = graph.one(FUNCTION)
    wait = graph.one("time:index/sleep:Sleep", "model-store-reader-propagation")
    assert wait.urn in function.dependencies


def test_store_models_bundle_ships_no_artifact_and_reads_the_store(
    program: Program, store_root: Path, gcs: Cloud
) -> None:
    graph = run(program, "dev", store_root, promoted(gcs, store_root).bucket)
    archive = graph.one("gcp:storage/bucketObject:BucketObject")
    with zipfile.ZipFile(archive.state["source"]["path"]) as bundle:
        names = bundle.namelist()
        requirements = bundle.read("requirements.txt").decode()
    assert not [n for n in names if n.startswith("model/")]
    assert "google-cloud-storage==3.17.1" in requirements


def test_a_stack_of_image_models_has_no_store(graphs: dict[str, Graph]) -> None:
    for graph in graphs.values():
        assert "model_store_bucket" not in graph.outputs
        assert not graph.of_type("sklearn-inference:gcp:ModelStore")
        assert "MODEL_SOURCE" not in function_env(graph)


# --- the gated release judges a store model's revision against the version it pins ----------


def test_release_judges_a_store_revision_against_its_pinned_version(gcs: Cloud) -> None:
    from program_modules import load_release_tool

    from ops.model_store import promote, publish

    release = load_release_tool()
    artifacts = Path(__file__).resolve().parents[2] / "model" / "artifacts"
    version = publish(gcs.store, "iris", artifacts).version
    promote(gcs.store, "iris", version)
    store = f"gs://{gcs.bucket}/models/iris"
    outputs = {"models": {"iris": {"model_store": store, "model_version": version}}}
    expected = release.expectation("iris", outputs)
    # The version the revision pins, with its own reference from the store (not the tree's)
    assert (expected.model.name, expected.model.version) == ("iris-logistic-regression", version)
    assert expected.reference is not None and expected.reference.version == version
    assert store in expected.source
