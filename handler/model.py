"""Load the model once per instance and predict with the backend the manifest vouches for.

ONNX Runtime when the manifest lists a verified ONNX artifact (it imports in a fraction of
scikit-learn's time, and this module never imports scikit-learn on that path); joblib with
scikit-learn otherwise, or when `MODEL_BACKEND` forces it. Every artifact's SHA-256 is checked
against the manifest before it is deserialised.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from handler.manifest import Artifact, Manifest, ManifestError, served_backend


class ModelLoadError(RuntimeError):
    """When the model cannot be loaded and the instance must fail closed"""


class UnusableProbabilities(ValueError):
    """When the model answers probabilities that are not finite numbers between 0 and 1"""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(f"rows {rows}")
        self.rows = rows


class Predictor(Protocol):
    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per input row, columns in manifest class order."""
        ...


@dataclass(frozen=True)
class LoadedModel:
    manifest: Manifest
    backend: str
    artifact: Artifact
    predictor: Predictor

    def predict(self, rows: np.ndarray) -> tuple[list[str], list[list[float]]]:
        """The most probable class of each row and all class probabilities.

        The label is the argmax of the probabilities on both backends: one model call per
        request, and training refuses a model whose own `predict` disagrees (model/train.py).
        """
        proba = self.predictor.predict_proba(rows)
        values: list[list[float]] = proba.tolist()
        # The boundary check: in-range inputs can still overflow a model's float32 arithmetic
        # (a logit of 3e38 * 2 is inf, and inf - inf is NaN); such a row has no answer. NaN
        # fails every comparison, so one range test per value catches all three cases, and in
        # Python on the list it costs under a microsecond for a single row.
        if not all(0.0 <= p <= 1.0 for row in values for p in row):
            values = _clip_rounding(values)
        names = self.manifest.class_names
        return [names[i] for i in proba.argmax(axis=1).tolist()], values


# float32 sums round: averaging a forest's trees gives 1.0000001 where float64 gives 1.0.
ROUNDING_SLACK = 1e-5


def _clip_rounding(values: list[list[float]]) -> list[list[float]]:
    """Probabilities within rounding of [0, 1] clipped into it; UnusableProbabilities names
    the rows with a value that is not a number or further out."""
    bad = [
        i
        for i, row in enumerate(values)
        if not all(-ROUNDING_SLACK <= p <= 1 + ROUNDING_SLACK for p in row)
    ]
    if bad:
        raise UnusableProbabilities(bad)
    return [[min(max(p, 0.0), 1.0) for p in row] for row in values]


class OnnxPredictor:
    def __init__(self, model_bytes: bytes) -> None:
        import onnxruntime as ort  # imported here so the joblib path never pays for it

        options = ort.SessionOptions()
        # One small model per instance: a thread pool costs start-up time and idle CPU spin
        # on Lambda's fractional vCPUs without making a 4-feature row any faster.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        # skl2onnx (zipmap off) names its outputs label and probabilities; fetch only the latter.
        matrices = [o.name for o in self._session.get_outputs() if len(o.shape) == 2]
        if len(matrices) != 1:
            raise ModelLoadError(
                "the ONNX model has no single probabilities matrix output "
                "(export it with skl2onnx and zipmap disabled, as model/train.py does)"
            )
        self._outputs = matrices

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        result: np.ndarray = self._session.run(
            self._outputs, {self._input: rows.astype(np.float32)}
        )[0]
        return result


class SklearnPredictor:
    def __init__(self, model_bytes: bytes) -> None:
        import joblib  # scikit-learn arrives with the unpickled estimator

        self._model: Any = joblib.load(io.BytesIO(model_bytes))

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self._model.classes_]

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        result: np.ndarray = self._model.predict_proba(rows)
        return result


def choose_backend(manifest: Manifest, requested: str) -> str:
    if requested == "auto":
        return served_backend(manifest.raw)
    if requested not in manifest.artifacts:
        reason = manifest.raw.get("onnx", {}).get("reason", "")
        raise ModelLoadError(
            f"MODEL_BACKEND={requested} but the manifest lists no {requested} artifact"
            + (f" (ONNX export: {reason})" if reason else "")
        )
    return requested


def load_model(model_dir: Path, requested_backend: str = "auto") -> LoadedModel:
    """Verify and load the model; raises ModelLoadError (or ManifestError) with a clear reason."""
    manifest = Manifest.load(model_dir)
    backend = choose_backend(manifest, requested_backend)
    artifact = manifest.artifacts[backend]
    data = artifact.verified_bytes()
    predictor: OnnxPredictor | SklearnPredictor
    if backend == "onnx":
        predictor = OnnxPredictor(data)
    else:
        try:
            predictor = SklearnPredictor(data)
        except ModuleNotFoundError as exc:
            raise ModelLoadError(
                f"the joblib backend needs scikit-learn {manifest.raw.get('sklearn_version', '')} "
                f"(the version that trained the model), but {exc.name} is not installed: "
                "install what `python -m handler.runtime requirements` lists for this model"
            ) from None
        if predictor.classes != list(manifest.class_names):
            raise ManifestError(
                f"the joblib model's classes {predictor.classes} differ from the manifest's "
                f"{list(manifest.class_names)}"
            )
    model = LoadedModel(manifest=manifest, backend=backend, artifact=artifact, predictor=predictor)
    _self_check(model)
    return model


def _self_check(model: LoadedModel) -> None:
    # One prediction at init proves the artifact matches the manifest's shape and moves the
    # runtime's first-run cost out of the first request.
    width = len(model.manifest.feature_names)
    labels, proba = model.predict(np.zeros((1, width), dtype=np.float64))
    classes = model.manifest.class_names
    if len(proba[0]) != len(classes) or labels[0] not in classes:
        raise ModelLoadError(
            f"the {model.backend} model answers {len(proba[0])} probabilities and label "
            f"{labels[0]!r}, but the manifest names classes {', '.join(classes)}"
        )
