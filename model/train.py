"""The reference model: LogisticRegression on Iris, trained into model/artifacts/.

    python -m model.train [--out DIR] [--version 1.0.0] [--min-accuracy 0.9]

To serve another scikit-learn classifier in its place, change `build_model()` (and `load_data()`
for other data); to serve one beside it, give it a directory of its own (docs/fork.md,
"Serve several models"). The pipeline (model/pipeline.py) and everything downstream read the
manifest.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from model import pipeline
from model.pipeline import Dataset, ModelSpec

DEFAULT_OUT = Path(__file__).resolve().parent / "artifacts"


def load_data() -> Dataset:
    """Iris as bundled with scikit-learn (no download); labels are the class names."""
    iris = load_iris()
    names = [n.removesuffix(" (cm)").replace(" ", "_") for n in iris.feature_names]
    return Dataset(X=iris.data, y=iris.target_names[iris.target], feature_names=names)


def build_model() -> ClassifierMixin:
    """The estimator to train: any scikit-learn classifier or Pipeline with predict_proba."""
    return LogisticRegression(max_iter=1000, random_state=pipeline.SEED)


SPEC = ModelSpec(
    name="iris-logistic-regression",
    version="1.0.0",
    load_data=load_data,
    build_model=build_model,
    accuracy_floor=0.9,
)


def train(
    out_dir: Path = DEFAULT_OUT,
    *,
    version: str | None = None,
    min_accuracy: float | None = None,
    model: ClassifierMixin | None = None,
) -> dict[str, Any]:
    """`pipeline.train` for this model."""
    return pipeline.train(SPEC, out_dir, version=version, min_accuracy=min_accuracy, model=model)


def main(argv: list[str] | None = None) -> int:
    return pipeline.main(SPEC, DEFAULT_OUT, argv)


if __name__ == "__main__":
    sys.exit(main())
