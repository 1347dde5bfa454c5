"""The source archive: deterministic, hash-named, and servable by functions-framework."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from program_modules import load
from program_runs import REPO_ROOT, write_fake_model, write_fake_root
from served_bundle import extract_bundle, reference_case, serve
from test_gcp_program import FUNCTION, OBJECT

from handler.bundle import gcf_source_files

bundle = load("archive")


def name_for(root: Path) -> str:
    return bundle.object_name("fn", bundle.build_archive(gcf_source_files(root)))


def name_for_stack(root: Path, stack: str) -> str:
    return bundle.object_name(
        f"sklearn-inference-{stack}", bundle.build_archive(gcf_source_files(root))
    )


def test_pulumi_gcp_import_resolves_to_the_sdk_not_the_program_folder():
    # GIVEN the repository root on sys.path (pytest pythonpath) and a folder named pulumi_gcp
    import pulumi_gcp

    # THEN the SDK wins, because the folder is not a package
    assert Path(pulumi_gcp.__file__).parent.parent.name == "site-packages", pulumi_gcp.__file__
    assert hasattr(pulumi_gcp, "cloudfunctionsv2")
    assert not (REPO_ROOT / "pulumi_gcp" / "__init__.py").exists()


def test_same_files_give_identical_bytes_whatever_their_mtime_and_mode(tmp_path):
    first = write_fake_root(tmp_path / "a")
    second = write_fake_root(tmp_path / "b")
    for path in second.rglob("*"):
        if path.is_file():
            os.utime(path, (1_700_000_000, 1_700_000_000))
            path.chmod(0o600)
    assert bundle.build_archive(gcf_source_files(first)) == bundle.build_archive(
        gcf_source_files(second)
    )


def test_object_name_changes_when_a_shipped_file_changes(tmp_path):
    before = name_for(write_fake_root(tmp_path / "a"))
    after = name_for(write_fake_root(tmp_path / "b", handler_code="VALUE = 2\n"))
    assert before != after


def test_object_name_changes_when_the_model_changes(tmp_path):
    root = write_fake_root(tmp_path / "a")
    before = name_for(root)
    write_fake_model(root, b"retrained")
    assert name_for(root) != before


def test_object_name_ignores_caches_tests_and_unlisted_artifacts(tmp_path):
    root = write_fake_root(tmp_path / "a")
    before = name_for(root)
    (root / "handler" / "__pycache__").mkdir()
    (root / "handler" / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"\x00cache")
    (root / "tests").mkdir()
    (root / "tests" / "test_handler.py").write_text("def test(): pass\n")
    (root / "model" / "artifacts" / "old-model.onnx").write_bytes(b"not in the manifest")
    (root / "pulumi_gcp").mkdir()
    (root / "pulumi_gcp" / "__main__.py").write_text("# infrastructure\n")
    assert name_for(root) == before


def test_entries_are_sorted_stored_and_world_readable(tmp_path):
    archive = bundle.build_archive(gcf_source_files(write_fake_root(tmp_path / "a")))
    path = tmp_path / "a.zip"
    path.write_bytes(archive)
    with zipfile.ZipFile(path) as opened:
        infos = opened.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {(i.compress_type, i.date_time, i.external_attr >> 16) for i in infos} == {
        (zipfile.ZIP_STORED, (1980, 1, 1, 0, 0, 0), 0o100644)
    }


def test_object_name_carries_the_full_sha256(tmp_path):
    name = name_for(write_fake_root(tmp_path / "a"))
    prefix, digest = name.removesuffix(".zip").split("/source-")
    assert prefix == "fn" and len(digest) == 64 and int(digest, 16) >= 0


def test_pinned_bundle_is_served_and_the_tree_is_not_uploaded(program, fake_root):
    # GIVEN a stack pinned to an earlier bundle by make rollback-gcp
    pinned = f"sklearn-inference-prod/source-{'ab' * 32}.zip"
    graph = program("prod", f"sourceObject={pinned}")
    # THEN the function builds from it, nothing is uploaded, and the outputs say so
    source = graph.one(FUNCTION).state["buildConfig"]["source"]["storageSource"]
    assert source["object"] == pinned
    assert graph.of_type(OBJECT) == []
    assert graph.outputs["source_object"] == pinned
    assert graph.outputs["source_pinned"] is True
    assert graph.outputs["tree_source_object"] == name_for_stack(fake_root, "prod")


def test_unpinned_stack_serves_the_working_tree(program, fake_root):
    graph = program("prod")
    assert graph.outputs["source_pinned"] is False
    assert graph.outputs["source_object"] == graph.outputs["tree_source_object"]
    assert graph.outputs["source_object"] == name_for_stack(fake_root, "prod")


def test_program_run_reuploads_only_when_content_changes(program, tmp_path):
    # GIVEN two program runs over identical trees and one over a changed handler
    def object_of(root: Path) -> str:
        return program("prod", models=root / "models.toml").outputs["source_object"]

    same_a = object_of(write_fake_root(tmp_path / "a"))
    same_b = object_of(write_fake_root(tmp_path / "b"))
    changed = object_of(write_fake_root(tmp_path / "c", handler_code="VALUE = 3\n"))
    # THEN the function's source object is stable, and new exactly when content changed
    assert same_a == same_b
    assert changed != same_a


@pytest.mark.slow
def test_extracted_bundle_serves_a_prediction_with_functions_framework(tmp_path):
    # GIVEN the archive the program would upload for the model in model/, as it is
    tree = extract_bundle(REPO_ROOT, tmp_path / "function-source")
    case = reference_case(REPO_ROOT / "model" / "artifacts")
    # WHEN functions-framework serves it in a process that sees only the extracted tree
    health, predicted = serve(
        tree, [("GET", "/health", None), ("POST", "/", {"features": case["features"]})]
    )
    # THEN the model's first golden row gets its golden label
    assert health["status"] == 200
    assert predicted["status"] == 200, predicted
    assert predicted["body"]["predictions"][0]["label"] == case["label"], predicted
