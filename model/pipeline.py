"""The training pipeline every model directory uses: train, check, export to ONNX when ONNX
Runtime reproduces scikit-learn, and write the artifacts, the manifest and the golden reference
predictions.

A model directory holds a `train.py` that defines a `ModelSpec` (its name, version, data and
estimator) as `SPEC` and runs `main(SPEC, ...)`; model/train.py is the reference one.
Everything downstream (handler, images, bundles, verification) reads the manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from handler.manifest import MANIFEST_FILE, sha256_file

SEED = 42
HOLDOUT_FRACTION = 0.2
# ONNX Runtime computes in float32, scikit-learn in float64: probabilities may differ in the
# last float32 digits, labels must not differ at all.
ONNX_PROBA_TOLERANCE = 1e-5
# The golden file `python -m ops.verify` (and the deploy gates) check a deployment against.
REFERENCE_FILE = "reference.json"
REFERENCE_CASES_PER_CLASS = 3


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]


class ModelRejected(RuntimeError):
    """When the trained model must not ship: too inaccurate, or not servable as trained"""


@dataclass(frozen=True)
class ModelSpec:
    """What a model directory's train.py says about its model; the pipeline does the rest."""

    name: str  # recorded in the manifest; answered by /health and every prediction
    version: str  # bump it with every retrain, so responses say which model answered
    load_data: Callable[[], Dataset]
    build_model: Callable[[], ClassifierMixin]  # any classifier or Pipeline with predict_proba
    accuracy_floor: float = 0.9  # hold-out accuracy below which nothing is written


def train(
    spec: ModelSpec,
    out_dir: Path,
    *,
    version: str | None = None,
    min_accuracy: float | None = None,
    model: ClassifierMixin | None = None,
) -> dict[str, Any]:
    """Train, verify and write the artifacts, manifest and golden reference into `out_dir`;
    return the manifest."""
    version = spec.version if version is None else version
    min_accuracy = spec.accuracy_floor if min_accuracy is None else min_accuracy
    data = spec.load_data()
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=HOLDOUT_FRACTION, stratify=data.y, random_state=SEED
    )
    model = spec.build_model() if model is None else model
    model.fit(X_train, y_train)
    accuracy = float(accuracy_score(y_test, model.predict(X_test)))
    if accuracy < min_accuracy:
        raise ModelRejected(
            f"hold-out accuracy {accuracy:.4f} is below the floor {min_accuracy:.4f}; "
            "nothing was written"
        )
    # The handler answers the most probable class; a model whose predict() says otherwise
    # (e.g. SVC's Platt-scaled probabilities) would answer differently from scikit-learn.
    argmax = model.classes_[model.predict_proba(X_test).argmax(axis=1)]
    disagreements = int(np.sum(argmax != model.predict(X_test)))
    if disagreements:
        raise ModelRejected(
            f"predict() disagrees with the most probable class of predict_proba() on "
            f"{disagreements} hold-out rows; the handler serves the latter. Nothing was written"
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    joblib_path = out_dir / "model.joblib"
    onnx_path = out_dir / "model.onnx"
    joblib.dump(model, joblib_path)
    artifacts = {"joblib": _describe(joblib_path)}

    onnx_status = export_onnx(model, X_train, X_test, onnx_path)
    if onnx_status["status"] == "verified":
        artifacts["onnx"] = _describe(onnx_path)
    else:
        # A stale file must not ship beside a manifest that does not vouch for it.
        onnx_path.unlink(missing_ok=True)

    manifest = {
        "name": spec.name,
        "version": version,
        "created_at": _created_at(),
        "estimator": _estimator_name(model),
        "sklearn_version": installed_version("scikit-learn"),
        "feature_names": data.feature_names,
        "class_names": [str(c) for c in model.classes_],
        "holdout": {
            "accuracy": round(accuracy, 6),
            "rows": len(y_test),
            "floor": min_accuracy,
            "seed": SEED,
        },
        "onnx": onnx_status,
        # What the served backend needs installed, at these versions (handler/runtime.py).
        "runtime": _runtime_versions(onnx_status),
        "artifacts": artifacts,
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    reference = golden_reference(model, X_test, y_test, manifest)
    (out_dir / REFERENCE_FILE).write_text(json.dumps(reference, indent=2) + "\n")
    return manifest


def golden_reference(
    model: ClassifierMixin, X_test: np.ndarray, y_test: np.ndarray, manifest: dict[str, Any]
) -> dict[str, Any]:
    """The first hold-out rows of each class with scikit-learn's float64 answers.

    A deployment serves the right model exactly when it answers these rows with the same labels
    and probabilities within `tolerance` (ONNX Runtime computes in float32, hence not exact).
    """
    picked = sorted(
        i
        for cls in model.classes_
        for i in np.flatnonzero(y_test == cls)[:REFERENCE_CASES_PER_CLASS].tolist()
    )
    rows = X_test[picked]
    probabilities = model.predict_proba(rows)
    labels = model.classes_[probabilities.argmax(axis=1)]
    return {
        "model": {
            "name": manifest["name"],
            "version": manifest["version"],
            "sha256": {name: a["sha256"] for name, a in manifest["artifacts"].items()},
        },
        "tolerance": ONNX_PROBA_TOLERANCE,
        "feature_names": manifest["feature_names"],
        "class_names": manifest["class_names"],
        "cases": [
            {"features": row, "label": str(label), "probabilities": proba}
            for row, label, proba in zip(rows.tolist(), labels, probabilities.tolist(), strict=True)
        ],
    }


def export_onnx(
    model: ClassifierMixin, X_train: np.ndarray, X_test: np.ndarray, path: Path
) -> dict[str, Any]:
    """Write `path` and report it verified only if ONNX Runtime reproduces scikit-learn on the
    hold-out set; otherwise report why not (and the handler serves joblib)."""
    try:
        import onnxruntime as ort
        from skl2onnx import to_onnx

        final = model[-1] if isinstance(model, Pipeline) else model
        onx = to_onnx(
            model,
            X_train[:1].astype(np.float32),
            options={id(final): {"zipmap": False}},
        )
        path.write_bytes(onx.SerializeToString())
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        _, proba = session.run(None, {input_name: X_test.astype(np.float32)})
    except Exception as exc:  # any converter or runtime failure means "ship joblib only"
        return {"status": "skipped", "reason": f"export failed: {type(exc).__name__}: {exc}"}

    # The handler's label is the argmax of these probabilities, as in train()'s own check.
    labels = model.classes_[np.asarray(proba).argmax(axis=1)]
    mismatches = int(np.sum(labels != model.predict(X_test)))
    if mismatches:
        return {
            "status": "skipped",
            "reason": f"{mismatches} hold-out labels differ from scikit-learn",
        }
    max_diff = float(np.max(np.abs(np.asarray(proba) - model.predict_proba(X_test))))
    if max_diff > ONNX_PROBA_TOLERANCE:
        return {
            "status": "skipped",
            "reason": f"probabilities differ by up to {max_diff:.2e} "
            f"(tolerance {ONNX_PROBA_TOLERANCE:.0e})",
        }
    return {
        "status": "verified",
        "onnxruntime_version": ort.__version__,
        "max_abs_proba_diff": float(f"{max_diff:.3e}"),
        "holdout_rows": len(X_test),
    }


def _runtime_versions(onnx_status: dict[str, Any]) -> dict[str, str]:
    versions = {d: installed_version(d) for d in ("scikit-learn", "joblib", "scipy")}
    if onnx_status["status"] == "verified":
        versions["onnxruntime"] = onnx_status["onnxruntime_version"]
    return versions


def _describe(path: Path) -> dict[str, Any]:
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _estimator_name(model: ClassifierMixin) -> str:
    if isinstance(model, Pipeline):
        return "Pipeline(" + ", ".join(type(step).__name__ for _, step in model.steps) + ")"
    return type(model).__name__


def _created_at() -> str:
    # SOURCE_DATE_EPOCH (reproducible-builds.org) pins the timestamp for byte-identical rebuilds.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch) if epoch else None))


def main(spec: ModelSpec, default_out: Path, argv: list[str] | None = None) -> int:
    """The command line every model directory's train.py runs as its `main`."""
    parser = argparse.ArgumentParser(description=f"Train {spec.name} and write its artifacts.")
    parser.add_argument("--out", type=Path, default=default_out, help="artifact directory")
    parser.add_argument("--version", default=spec.version, help="model version to record")
    parser.add_argument("--min-accuracy", type=float, default=spec.accuracy_floor)
    args = parser.parse_args(argv)
    try:
        manifest = train(spec, args.out, version=args.version, min_accuracy=args.min_accuracy)
    except ModelRejected as exc:
        print(f"{spec.name}: {exc}", file=sys.stderr)
        return 1
    onnx = manifest["onnx"]
    print(
        f"{manifest['name']} {manifest['version']}: hold-out accuracy "
        f"{manifest['holdout']['accuracy']:.4f} -> {args.out}\n"
        f"ONNX: {onnx['status']}"
        + (f" ({onnx['reason']})" if "reason" in onnx else "")
        + f"; artifacts: {', '.join(a['file'] for a in manifest['artifacts'].values())}"
        + f"; golden predictions: {REFERENCE_FILE}"
    )
    return 0
