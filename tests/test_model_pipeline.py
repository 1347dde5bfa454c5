"""The training pipeline: deterministic, honest manifest, accuracy floor, ONNX only when it matches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from handler.manifest import sha256_file
from handler.runtime import requirements
from handler.service import InferenceService
from handler.settings import Settings
from model import pipeline
from model import train as training
from tests.conftest import ARTIFACTS, SETOSA, VIRGINICA


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The reference model trained twice, into two directories, with a pinned timestamp."""
    dirs = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        for d in dirs:
            training.train(d)
    return dirs


def test_training_is_byte_for_byte_deterministic(trained: tuple[Path, Path]) -> None:
    a, b = trained
    names = sorted(p.name for p in a.iterdir())
    assert names == ["manifest.json", "model.joblib", "model.onnx", "reference.json"]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_manifest_records_what_a_deployer_needs(trained: tuple[Path, Path]) -> None:
    manifest = json.loads((trained[0] / "manifest.json").read_text())
    assert manifest["name"] == "iris-logistic-regression"
    assert manifest["version"] == "1.0.0"
    assert manifest["created_at"] == "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH
    assert manifest["estimator"] == "LogisticRegression"
    assert manifest["sklearn_version"] == __import__("sklearn").__version__
    assert manifest["feature_names"] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert manifest["class_names"] == ["setosa", "versicolor", "virginica"]
    assert manifest["holdout"]["rows"] == 30
    assert manifest["holdout"]["accuracy"] >= manifest["holdout"]["floor"] == 0.9
    # What the image and the bundle install for it (handler/runtime.py)
    assert manifest["runtime"] == {
        "scikit-learn": __import__("sklearn").__version__,
        "joblib": __import__("joblib").__version__,
        "scipy": __import__("scipy").__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
    }


def test_manifest_hashes_and_sizes_match_the_files(trained: tuple[Path, Path]) -> None:
    out = trained[0]
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["artifacts"].values():
        path = out / entry["file"]
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == sha256_file(path)


def test_committed_manifest_matches_the_committed_artifacts() -> None:
    # What ships (Dockerfile, Cloud Function bundle) is what the manifest vouches for.
    manifest = json.loads((ARTIFACTS / "manifest.json").read_text())
    assert set(manifest["artifacts"]) == {"joblib", "onnx"}
    for entry in manifest["artifacts"].values():
        assert sha256_file(ARTIFACTS / entry["file"]) == entry["sha256"], entry["file"]


def test_committed_artifacts_are_what_train_produces(trained: tuple[Path, Path]) -> None:
    # Editing model/train.py without retraining (make train) would ship a stale model.
    fresh = json.loads((trained[0] / "manifest.json").read_text())
    committed = json.loads((ARTIFACTS / "manifest.json").read_text())
    for key in ("name", "version", "estimator", "feature_names", "class_names", "holdout"):
        assert fresh[key] == committed[key], key
    assert set(fresh["artifacts"]) == set(committed["artifacts"])
    # Not the hashes: training is byte-for-byte deterministic on one machine, but lbfgs lands
    # about 1e-5 apart on CPUs whose BLAS kernels differ. The same model predicts the same.
    rows = training.load_data().X
    for backend in committed["artifacts"]:
        ours = InferenceService.load(Settings(model_dir=ARTIFACTS, backend=backend)).model
        theirs = InferenceService.load(Settings(model_dir=trained[0], backend=backend)).model
        assert ours is not None and theirs is not None
        labels, proba = ours.predict(rows)
        fresh_labels, fresh_proba = theirs.predict(rows)
        assert labels == fresh_labels, backend
        np.testing.assert_allclose(proba, fresh_proba, atol=1e-4, err_msg=backend)


def test_onnx_is_verified_against_scikit_learn(trained: tuple[Path, Path]) -> None:
    onnx = json.loads((trained[0] / "manifest.json").read_text())["onnx"]
    assert onnx["status"] == "verified"
    assert onnx["holdout_rows"] == 30
    assert onnx["max_abs_proba_diff"] <= pipeline.ONNX_PROBA_TOLERANCE


def test_accuracy_below_the_floor_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "artifacts"
    assert training.main(["--out", str(out), "--min-accuracy", "0.999"]) == 1
    assert "below the floor 0.9990; nothing was written" in capsys.readouterr().err
    assert not out.exists()


def test_onnx_that_changes_predictions_is_not_shipped(tmp_path: Path) -> None:
    # Scaling in float32 moves some rows across a tree threshold: ONNX Runtime then disagrees
    # with scikit-learn, the parity check catches it, and only joblib ships.
    (tmp_path / "model.onnx").write_bytes(b"stale")
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=25, random_state=0))
    manifest = training.train(tmp_path, model=model)
    assert manifest["onnx"]["status"] == "skipped"
    assert manifest["onnx"]["reason"].startswith("probabilities differ by up to")
    assert set(manifest["artifacts"]) == {"joblib"}
    assert not (tmp_path / "model.onnx").exists()
    service = InferenceService.load(Settings(model_dir=tmp_path))
    assert service.model is not None and service.model.backend == "joblib"


def test_unconvertible_model_is_served_by_joblib(tmp_path: Path) -> None:
    # skl2onnx cannot convert an arbitrary FunctionTransformer: the manifest says why, and the
    # handler's auto backend serves the joblib artifact.
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=1000))
    manifest = training.train(tmp_path, model=model)
    assert manifest["onnx"]["status"] == "skipped"
    assert manifest["onnx"]["reason"].startswith("export failed:")
    assert manifest["estimator"] == "Pipeline(FunctionTransformer, LogisticRegression)"
    # ...and a deployment of it installs scikit-learn, at the version that trained it.
    assert "onnxruntime" not in manifest["runtime"]
    assert f"scikit-learn=={manifest['sklearn_version']}" in requirements("aws", tmp_path)
    service = InferenceService.load(Settings(model_dir=tmp_path))
    assert service.model is not None and service.model.backend == "joblib"
    body = service.handle(
        "POST", "/predict", json.dumps({"features": [SETOSA, VIRGINICA]}).encode()
    ).response.body
    assert [p["label"] for p in body["predictions"]] == ["setosa", "virginica"]


@pytest.mark.parametrize(
    ("model", "estimator"),
    [
        (
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
            "Pipeline(StandardScaler, LogisticRegression)",
        ),
        (RandomForestClassifier(n_estimators=25, random_state=0), "RandomForestClassifier"),
    ],
    ids=["pipeline", "tree-ensemble"],
)
def test_swapped_in_models_export_and_serve_on_onnx(
    tmp_path: Path, model: object, estimator: str
) -> None:
    manifest = training.train(tmp_path, model=model)
    assert manifest["onnx"]["status"] == "verified"
    assert manifest["estimator"] == estimator
    service = InferenceService.load(Settings(model_dir=tmp_path))
    assert service.model is not None and service.model.backend == "onnx"
    body = service.handle(
        "POST", "/predict", json.dumps({"instances": [VIRGINICA, SETOSA]}).encode()
    ).response.body
    assert [p["label"] for p in body["predictions"]] == ["virginica", "setosa"]
