"""A second model to serve beside the reference one: a random forest on scikit-learn's wine data.

Copy this directory to models/wine/, declare it in models.toml and train it (docs/fork.md,
"Serve several models"):

    [models.wine]
    path = "models/wine"

    make train MODEL=wine

Everything a model directory needs is here: a `ModelSpec` named SPEC (name, version, data,
estimator) and a `main` that runs the shared pipeline (model/pipeline.py) into ./artifacts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.base import ClassifierMixin
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

from model import pipeline
from model.pipeline import Dataset, ModelSpec


def load_data() -> Dataset:
    """The UCI wine data as bundled with scikit-learn (no download)."""
    wine = load_wine()
    names = [n.replace("/", "_per_") for n in wine.feature_names]
    return Dataset(X=wine.data, y=wine.target_names[wine.target], feature_names=names)


def build_model() -> ClassifierMixin:
    return RandomForestClassifier(n_estimators=50, random_state=pipeline.SEED)


SPEC = ModelSpec(
    name="wine-random-forest",
    version="1.0.0",
    load_data=load_data,
    build_model=build_model,
    accuracy_floor=0.9,
)


def main(argv: list[str] | None = None) -> int:
    return pipeline.main(SPEC, Path(__file__).resolve().parent / "artifacts", argv)


if __name__ == "__main__":
    sys.exit(main())
