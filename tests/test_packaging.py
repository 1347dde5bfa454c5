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
from handler.runtime import main as runtime_main
from handler.runtime import read_requirements, requirements
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
            "model/artifacts/model.onnx",  # served; model.joblib is verified but stays home
        ]
    )
    assert all(isinstance(p, bytes) or (p.is_file() and p.is_absolute()) for p in files.values())


def test_gcf_bundle_installs_what_the_manifests_backend_needs_and_no_more() -> None:
    requirements = gcf_source_files()["requirements.txt"]
    assert isinstance(requirements, bytes)
    pins = _pins(requirements.decode())
    manifest = json.loads((ROOT / "model" / "artifacts" / "manifest.json").read_text())
    assert pins == {
        "numpy": "2.4.6",
        "orjson": "3.13.0",
        "functions-framework": "3.10.2",
        "onnxruntime": manifest["onnx"]["onnxruntime_version"],
    }


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
    # The Dockerfile's first stage: it verifies every listed artifact, then keeps the served one.
    artifacts = repo_copy / "model" / "artifacts"
    assert runtime_main(["stage", "aws", str(artifacts), str(repo_copy / "ok")]) == 0
    joblib = artifacts / "model.joblib"
    joblib.write_bytes(joblib.read_bytes()[:-1] + b"\x00")
    assert runtime_main(["stage", "aws", str(artifacts), str(repo_copy / "altered")]) == 1
    assert not (repo_copy / "altered" / "requirements.txt").exists()


def _instructions() -> list[list[str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.split(None, 1) for line in text.splitlines() if line and line[0] != "#"]


def test_dockerfile_stages_then_installs_what_the_stage_chose() -> None:
    instructions = _instructions()
    froms = [rest for op, rest in instructions if op == "FROM"]
    assert froms == ["${BASE_IMAGE} AS stage", "${BASE_IMAGE}"]
    assert ["ARG", "BASE_IMAGE=public.ecr.aws/lambda/python:3.12"] in instructions
    # An image model by default; the CDK app passes MODEL_SOURCE=store for a store model only.
    assert ["ARG", "MODEL_SOURCE=image"] in instructions
    assert instructions[-1] == ["CMD", '["handler.aws.lambda_handler"]']
    runs = [rest for op, rest in instructions if op == "RUN"]
    # The stage verifies every artifact, keeps the served one, writes the requirements...
    assert (
        "cd /build && python -m handler.runtime stage aws model out --source ${MODEL_SOURCE}"
        in runs
    )
    # ...and the image installs exactly those, then proves the model loads with them.
    installs = [r for r in runs if "pip install" in r]
    assert [re.findall(r"-r (\S+)", r) for r in installs] == [["/tmp/requirements.txt"]]
    assert (
        "python -m handler.runtime check ${LAMBDA_TASK_ROOT}/model/artifacts --source ${MODEL_SOURCE}"
        in runs
    )
    copies = [rest for op, rest in instructions if op == "COPY"]
    assert "--from=stage /build/out/requirements.txt /tmp/requirements.txt" in copies
    assert "--from=stage /build/out/artifacts/ ${LAMBDA_TASK_ROOT}/model/artifacts/" in copies
    assert "${MODEL}/artifacts/ /build/model/" in copies
    # Nothing of the model reaches the final image except through the stage.
    final = instructions[[op for op, _ in instructions].index("FROM", 3) :]
    assert not [
        rest
        for op, rest in final
        if op == "COPY" and "artifacts/ " in rest and "--from" not in rest
    ]


def test_image_stage_ships_the_served_artifact_and_its_runtime(tmp_path: Path) -> None:
    # What the Dockerfile's first stage runs, on the committed model.
    assert runtime_main(["stage", "aws", str(ROOT / "model" / "artifacts"), str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == [
        "manifest.json",
        "model.onnx",
    ]
    pins = _pins((tmp_path / "requirements.txt").read_text())
    assert set(pins) == {"numpy", "orjson", "onnxruntime"}  # no Flask, gunicorn or Powertools


def test_joblib_only_model_cannot_ship_without_scikit_learn(repo_copy: Path) -> None:
    # GIVEN a model whose ONNX export failed parity: the manifest lists joblib only
    artifacts = repo_copy / "model" / "artifacts"
    manifest = json.loads((artifacts / "manifest.json").read_text())
    del manifest["artifacts"]["onnx"]
    manifest["onnx"] = {"status": "skipped", "reason": "probabilities differ"}
    del manifest["runtime"]["onnxruntime"]
    (artifacts / "manifest.json").write_text(json.dumps(manifest))
    # THEN both clouds install scikit-learn at the manifest's versions, and ship model.joblib
    for cloud in ("aws", "gcp"):
        pins = _pins(requirements(cloud, artifacts))
        assert {k: pins[k] for k in ("scikit-learn", "joblib", "scipy")} == manifest["runtime"]
        assert "onnxruntime" not in pins
    assert "model/artifacts/model.joblib" in gcf_source_files(repo_copy)
    assert "model/artifacts/model.onnx" not in gcf_source_files(repo_copy)


def test_a_manifest_that_does_not_say_what_its_model_needs_stops_the_build(
    repo_copy: Path,
) -> None:
    artifacts = repo_copy / "model" / "artifacts"
    manifest = json.loads((artifacts / "manifest.json").read_text())
    del manifest["artifacts"]["onnx"]
    manifest.pop("runtime", None)
    (artifacts / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ManifestError, match="does not record which joblib, scipy its joblib model needs"
    ):
        requirements("aws", artifacts)
    assert runtime_main(["stage", "aws", str(artifacts), str(repo_copy / "out")]) == 1


def test_the_model_check_the_image_build_runs_fails_when_the_backend_is_missing(
    monkeypatch: pytest.MonkeyPatch, repo_copy: Path
) -> None:
    # The image's last step loads the model: without its runtime, the build stops there.
    assert runtime_main(["check", str(repo_copy / "model" / "artifacts")]) == 0
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)
    assert runtime_main(["check", str(repo_copy / "model" / "artifacts")]) == 1


def test_local_onnx_runtime_is_the_one_that_verified_the_committed_model() -> None:
    # Tests and `make serve` run the version a deployment installs (the manifest's).
    manifest = json.loads((ROOT / "model" / "artifacts" / "manifest.json").read_text())
    dev = _pins((ROOT / "handler" / "requirements" / "onnx.txt").read_text())
    assert dev["onnxruntime"] == manifest["onnx"]["onnxruntime_version"]


def test_dockerignore_is_an_allow_list_of_handler_and_artifacts() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {line for line in lines if line.startswith("!")} == {
        "!handler/",
        "!model/artifacts/",
        "!models/*/artifacts/",  # every directory model/catalog.py accepts
    }
    assert "**/__pycache__" in lines


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def _cloud_pins(cloud: str) -> dict[str, str]:
    return _pins("\n".join(read_requirements(ROOT / "handler" / "requirements" / f"{cloud}.txt")))


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_each_cloud_installs_a_lean_pinned_set(cloud: str) -> None:
    pins = _cloud_pins(cloud)
    assert all(pins.values()), "every runtime requirement is pinned with =="
    heavy = {"scikit-learn", "scipy", "pandas", "pytest", "boto3", "aws-lambda-powertools"}
    assert not heavy & set(pins)
    assert ("functions-framework" in pins) is (cloud == "gcp")


# Import name -> distribution. joblib/sklearn come with a joblib-only model's runtime.
PROVIDED = {
    "numpy": "numpy",
    "orjson": "orjson",
    "onnxruntime": "onnxruntime",
    "functions_framework": "functions-framework",
    "flask": "functions-framework",
    "werkzeug": "functions-framework",
    # A store model's adapters: boto3 ships with the Lambda runtime, google-cloud-storage comes
    # from requirements/gcs.txt (handler/runtime.py adds it for a store model).
    "boto3": "the Lambda runtime",
    "botocore": "the Lambda runtime",
    "google": "google-cloud-storage",
}
# Which cloud each module serves; the rest is the shared core.
ONLY_ON = {"gcp.py": "gcp", "aws.py": "aws", "store_s3.py": "aws", "store_gcs.py": "gcp"}
# What a store model's function has beyond its cloud's requirements file.
STORE_PINS = {
    "aws": {"the Lambda runtime": "provided"},
    "gcp": _pins("\n".join(read_requirements(ROOT / "handler" / "requirements" / "gcs.txt"))),
}


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_every_third_party_import_on_a_cloud_is_installed_there(cloud: str) -> None:
    pins = {**_cloud_pins(cloud), **STORE_PINS[cloud], "onnxruntime": "model"}
    stdlib = set(__import__("sys").stdlib_module_names)
    for module in (ROOT / "handler").glob("*.py"):
        if ONLY_ON.get(module.name, cloud) != cloud:
            continue
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
                if top in stdlib or top in {"handler", "__future__", "joblib"}:
                    continue
                assert PROVIDED.get(top) in pins, (
                    f"{module.name} imports {top}, which the {cloud} requirements do not pin"
                )
