"""What ships: the Cloud Function file list, the Lambda image recipe and the runtime pins."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import pytest

from handler.bundle import gcf_source_files
from handler.manifest import ManifestError
from handler.manifest import main as manifest_main
from tests.conftest import ROOT

HANDLER_MODULES = sorted(f"handler/{p.name}" for p in (ROOT / "handler").glob("*.py"))


def test_gcf_bundle_lists_exactly_the_runtime_files() -> None:
    files = gcf_source_files()
    assert list(files) == sorted(
        [
            "main.py",
            "requirements.txt",
            *HANDLER_MODULES,
            "model/artifacts/manifest.json",
            "model/artifacts/model.joblib",
            "model/artifacts/model.onnx",
        ]
    )
    assert files["requirements.txt"] == ROOT / "handler" / "requirements.txt"
    assert all(path.is_file() and path.is_absolute() for path in files.values())


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in ("main.py", "handler", "model/artifacts"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / name)
    return root


def test_gcf_bundle_ignores_caches_tests_and_strays(repo_copy: Path) -> None:
    (repo_copy / "handler" / "__pycache__").mkdir()
    (repo_copy / "handler" / "__pycache__" / "core.cpython-312.pyc").write_bytes(b"x")
    (repo_copy / "handler" / "notes.txt").write_text("scratch")
    (repo_copy / "tests").mkdir()
    (repo_copy / "tests" / "test_x.py").write_text("")
    assert list(gcf_source_files(repo_copy)) == list(gcf_source_files(ROOT))


def test_gcf_bundle_ships_only_artifacts_the_manifest_vouches_for(repo_copy: Path) -> None:
    manifest_path = repo_copy / "model" / "artifacts" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["artifacts"]["onnx"]
    manifest_path.write_text(json.dumps(manifest))
    names = set(gcf_source_files(repo_copy))
    assert "model/artifacts/model.onnx" not in names
    assert "model/artifacts/model.joblib" in names


def test_gcf_bundle_refuses_to_build_without_the_model(repo_copy: Path) -> None:
    (repo_copy / "model" / "artifacts" / "model.onnx").unlink()
    with pytest.raises(ManifestError, match=r"onnx artifact .*model\.onnx cannot be read"):
        gcf_source_files(repo_copy)


def test_gcf_bundle_refuses_an_altered_artifact_even_one_never_loaded(repo_copy: Path) -> None:
    # ONNX serves; model.joblib only ships beside it. A flipped byte there must still stop it.
    joblib = repo_copy / "model" / "artifacts" / "model.joblib"
    data = bytearray(joblib.read_bytes())
    data[100] ^= 0x01
    joblib.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=r"model\.joblib does not match the manifest"):
        gcf_source_files(repo_copy)


def test_artifact_check_the_image_build_runs_fails_on_an_altered_artifact(
    repo_copy: Path,
) -> None:
    artifacts = repo_copy / "model" / "artifacts"
    assert manifest_main([str(artifacts)]) == 0
    joblib = artifacts / "model.joblib"
    joblib.write_bytes(joblib.read_bytes()[:-1] + b"\x00")
    assert manifest_main([str(artifacts)]) == 1


def test_dockerfile_builds_the_lambda_image_from_handler_requirements_only() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.split(None, 1) for line in dockerfile.splitlines() if line and not line.startswith("#")
    ]
    assert instructions[0] == ["FROM", "public.ecr.aws/lambda/python:3.12"]
    assert instructions[-1] == ["CMD", '["handler.aws.lambda_handler"]']
    installs = [rest for op, rest in instructions if op == "RUN" and "pip install" in rest]
    assert [re.findall(r"-r (\S+)", r) for r in installs] == [
        ["${LAMBDA_TASK_ROOT}/handler/requirements.txt"]
    ]
    copies = {rest for op, rest in instructions if op == "COPY"}
    assert "handler/ ${LAMBDA_TASK_ROOT}/handler/" in copies
    assert "model/artifacts/ ${LAMBDA_TASK_ROOT}/model/artifacts/" in copies
    # The build fails on an artifact that does not match the manifest, served or not.
    runs = [rest for op, rest in instructions if op == "RUN"]
    assert "python -m handler.manifest ${LAMBDA_TASK_ROOT}/model/artifacts" in runs


def test_dockerignore_is_an_allow_list_of_handler_and_artifacts() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {line for line in lines if line.startswith("!")} == {"!handler/", "!model/artifacts/"}
    assert "**/__pycache__" in lines


def _requirements(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def test_runtime_requirements_are_pinned_and_lean() -> None:
    pins = _requirements(ROOT / "handler" / "requirements.txt")
    assert all(pins.values()), "every runtime requirement is pinned with =="
    assert not {"scikit-learn", "scipy", "pandas", "pytest", "boto3", "skl2onnx", "onnx"} & set(
        pins
    )


def test_every_third_party_import_of_the_handler_is_a_runtime_requirement() -> None:
    pins = _requirements(ROOT / "handler" / "requirements.txt")
    # Import name -> distribution; joblib/sklearn are imported only on the opt-in joblib path.
    provided = {
        "numpy": "numpy",
        "orjson": "orjson",
        "onnxruntime": "onnxruntime",
        "functions_framework": "functions-framework",
        "flask": "functions-framework",
        "werkzeug": "functions-framework",
    }
    optional = {"joblib"}
    stdlib = set(__import__("sys").stdlib_module_names)
    for module in (ROOT / "handler").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top in {"handler", "__future__"} or top in optional:
                    continue
                assert provided.get(top) in pins, (
                    f"{module.name} imports {top}, which handler/requirements.txt does not pin"
                )
