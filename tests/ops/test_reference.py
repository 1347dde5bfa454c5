"""The golden reference predictions: what model.train writes, what ops.reference loads, and how
an answer is judged against it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from handler.service import InferenceService
from handler.settings import Settings
from model import pipeline
from model import train as training
from ops.reference import REFERENCE_FILE, Reference, ReferenceError, load_reference
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def committed() -> Reference:
    return load_reference(ARTIFACTS)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trained")
    training.train(out)
    return out


def answer_of(reference: Reference, **changes: Any) -> dict[str, Any]:
    """A /predict answer that matches `reference` exactly, with `changes` applied."""
    answer = {
        "predictions": [
            {"label": c.label, "probabilities": list(c.probabilities)} for c in reference.cases
        ],
        "classes": list(reference.class_names),
    }
    answer.update(changes)
    return answer


def test_committed_reference_describes_the_committed_manifest(committed: Reference) -> None:
    manifest = json.loads((ARTIFACTS / "manifest.json").read_text())
    assert (committed.name, committed.version) == (manifest["name"], manifest["version"])
    assert committed.sha256 == {k: v["sha256"] for k, v in manifest["artifacts"].items()}
    assert committed.feature_names == tuple(manifest["feature_names"])
    assert committed.tolerance == pipeline.ONNX_PROBA_TOLERANCE


def test_cases_are_hold_out_rows_covering_every_class(committed: Reference) -> None:
    data = training.load_data()
    _, X_test, _, _ = pipeline.train_test_split(
        data.X,
        data.y,
        test_size=pipeline.HOLDOUT_FRACTION,
        stratify=data.y,
        random_state=pipeline.SEED,
    )
    assert 6 <= len(committed.cases) <= 12
    assert Counter(c.label for c in committed.cases) == {
        name: pipeline.REFERENCE_CASES_PER_CLASS for name in committed.class_names
    }
    holdout = {tuple(row) for row in X_test.tolist()}
    assert all(case.features in holdout for case in committed.cases)


@pytest.mark.parametrize("backend", ["onnx", "joblib"])
def test_the_committed_model_answers_the_reference(committed: Reference, backend: str) -> None:
    # What verify asks of a deployment, asked of the artifacts that ship.
    service = InferenceService.load(Settings(model_dir=ARTIFACTS, backend=backend))
    response = service.handle("POST", "/predict", committed.request_body()).response
    comparison = committed.compare(response.body)
    assert comparison.matches, comparison.problems
    assert comparison.max_abs_diff <= committed.tolerance


def test_training_again_reproduces_the_committed_reference(
    committed: Reference, fresh: Path
) -> None:
    # Editing model/train.py without `make train` would leave a stale golden file. Compared
    # by value: lbfgs lands about 1e-5 apart on CPUs with different BLAS kernels.
    again = load_reference(fresh)
    assert [(c.features, c.label) for c in again.cases] == [
        (c.features, c.label) for c in committed.cases
    ]
    np.testing.assert_allclose(
        [c.probabilities for c in again.cases],
        [c.probabilities for c in committed.cases],
        atol=1e-4,
    )


def test_a_missing_reference_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ReferenceError, match="run `make train`"):
        load_reference(tmp_path)


def test_a_reference_of_other_artifacts_is_refused_as_stale(model_copy: Path) -> None:
    manifest = json.loads((model_copy / "manifest.json").read_text())
    manifest["artifacts"]["onnx"]["sha256"] = "0" * 64
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReferenceError, match="stale reference"):
        load_reference(model_copy)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["cases"][0]["features"].pop(), "case 0 has 3 features"),
        (lambda r: r["cases"][1].update(label="dahlia"), "case 1 has unknown label 'dahlia'"),
        (lambda r: r.update(cases=[]), "holds no cases"),
        (lambda r: r.pop("tolerance"), "unreadable"),
        (lambda r: r.update(tolerance=2), "tolerance 2.0 is not between 0 and 1"),
    ],
    ids=["short-row", "unknown-label", "no-cases", "no-tolerance", "huge-tolerance"],
)
def test_a_malformed_reference_is_refused(model_copy: Path, edit: Any, message: str) -> None:
    path = model_copy / REFERENCE_FILE
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))
    with pytest.raises(ReferenceError, match=message):
        load_reference(model_copy)


def test_the_exact_answer_matches(committed: Reference) -> None:
    comparison = committed.compare(answer_of(committed))
    assert comparison.matches and comparison.max_abs_diff == 0.0


def test_probabilities_within_tolerance_match(committed: Reference) -> None:
    answer = answer_of(committed)
    answer["predictions"][2]["probabilities"][0] += committed.tolerance / 2
    comparison = committed.compare(answer)
    assert comparison.matches
    assert comparison.max_abs_diff == pytest.approx(committed.tolerance / 2)


def test_a_probability_beyond_tolerance_is_named(committed: Reference) -> None:
    answer = answer_of(committed)
    answer["predictions"][4]["probabilities"][1] -= 3e-4
    assert committed.compare(answer).problems == (
        f"case 4 {list(committed.cases[4].features)}: probabilities differ by 3.00e-04 "
        "(tolerance 1e-05)",
    )


def test_a_wrong_label_is_named(committed: Reference) -> None:
    answer = answer_of(committed)
    answer["predictions"][0]["label"] = "virginica"
    [problem] = committed.compare(answer).problems
    assert problem.endswith(f"label 'virginica', expected {committed.cases[0].label!r}")


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"error": {"code": "model_unavailable"}}, "the answer has no 'predictions' array"),
        (
            {"predictions": [], "classes": ["setosa", "versicolor", "virginica"]},
            "0 predictions for 9 rows",
        ),
        (
            {"predictions": [], "classes": ["a", "b"]},
            "classes are ['a', 'b'], expected ['setosa', 'versicolor', 'virginica']",
        ),
    ],
)
def test_answers_of_the_wrong_shape_are_named(
    committed: Reference, answer: dict[str, Any], problem: str
) -> None:
    assert problem in committed.compare(answer).problems


def test_non_numbers_and_missing_probabilities_never_match(committed: Reference) -> None:
    answer = answer_of(committed)
    answer["predictions"][0]["probabilities"] = ["0.98", 0.01, 0.01]
    answer["predictions"][1]["probabilities"] = [0.5, 0.5]
    problems = committed.compare(answer).problems
    assert [p.split(":")[0] for p in problems] == [
        f"case {i} {list(committed.cases[i].features)}" for i in (0, 1)
    ]


def test_a_flood_of_problems_is_cut_short(committed: Reference) -> None:
    answer = answer_of(committed)
    for prediction in answer["predictions"]:
        prediction["label"] = "none"
    problems = committed.compare(answer).problems
    assert len(problems) == 6 and problems[-1] == "and 4 more"
