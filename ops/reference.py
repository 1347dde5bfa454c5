"""The golden reference predictions (`model/artifacts/reference.json`, written by `model.train`)
and how to judge a deployment's answers against them.

Standard library only, so a deploy gate (a CodeDeploy pre-traffic hook, a GCP post-deploy step)
can import or vendor this one file:

    reference = load_reference(model_dir)
    status, body = <POST /predict with reference.request_body()>
    problems = reference.compare(json.loads(body)).problems   # [] when the model is right
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REFERENCE_FILE = "reference.json"
MANIFEST_FILE = "manifest.json"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "artifacts"
# Enough to see the pattern of a failure without flooding a terminal.
MAX_PROBLEMS_SHOWN = 5


class ReferenceError(ValueError):
    """When reference.json is missing, malformed, or describes other artifacts than the manifest"""


@dataclass(frozen=True)
class Case:
    features: tuple[float, ...]
    label: str
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class Comparison:
    """What differs between a /predict answer and the reference; no problems means a match."""

    problems: tuple[str, ...]
    max_abs_diff: float

    @property
    def matches(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Reference:
    name: str
    version: str
    sha256: dict[str, str]  # backend -> artifact SHA-256
    tolerance: float
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    cases: tuple[Case, ...]

    def request_body(self) -> bytes:
        """Every case as one batch, in the handler's plainest request form."""
        return json.dumps({"features": [list(case.features) for case in self.cases]}).encode()

    def compare(self, answer: Any) -> Comparison:
        """Labels must be identical, every probability within `tolerance`, classes in order."""
        if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
            return Comparison(("the answer has no 'predictions' array",), math.inf)
        problems: list[str] = []
        classes = answer.get("classes")
        if classes != list(self.class_names):
            problems.append(f"classes are {classes}, expected {list(self.class_names)}")
        predictions = answer["predictions"]
        if len(predictions) != len(self.cases):
            problems.append(f"{len(predictions)} predictions for {len(self.cases)} rows")
        worst = 0.0
        for i, (case, got) in enumerate(zip(self.cases, predictions, strict=False)):
            where = f"case {i} {list(case.features)}"
            label = got.get("label") if isinstance(got, dict) else None
            if label != case.label:
                problems.append(f"{where}: label {label!r}, expected {case.label!r}")
            diff = _max_abs_diff(got.get("probabilities") if isinstance(got, dict) else None, case)
            worst = max(worst, diff)
            if diff > self.tolerance:
                problems.append(
                    f"{where}: probabilities differ by {diff:.2e} (tolerance {self.tolerance:.0e})"
                )
        if len(problems) > MAX_PROBLEMS_SHOWN:
            hidden = len(problems) - MAX_PROBLEMS_SHOWN
            problems = [*problems[:MAX_PROBLEMS_SHOWN], f"and {hidden} more"]
        return Comparison(tuple(problems), worst)


def _max_abs_diff(got: Any, case: Case) -> float:
    if not isinstance(got, list) or len(got) != len(case.probabilities):
        return math.inf
    if not all(type(p) in (int, float) for p in got):
        return math.inf
    diffs = [abs(float(g) - e) for g, e in zip(got, case.probabilities, strict=True)]
    return max(diffs) if all(math.isfinite(d) for d in diffs) else math.inf


def load_reference(model_dir: Path = DEFAULT_MODEL_DIR) -> Reference:
    """Read and check `reference.json` in `model_dir`; when `manifest.json` sits beside it, the
    reference must describe the same artifacts (a stale reference would fail every deploy)."""
    path = model_dir / REFERENCE_FILE
    try:
        raw = json.loads(path.read_text())
        model = raw["model"]
        reference = Reference(
            name=str(model["name"]),
            version=str(model["version"]),
            sha256={str(k): str(v) for k, v in model["sha256"].items()},
            tolerance=float(raw["tolerance"]),
            feature_names=tuple(str(n) for n in raw["feature_names"]),
            class_names=tuple(str(n) for n in raw["class_names"]),
            cases=tuple(
                Case(
                    features=tuple(float(v) for v in case["features"]),
                    label=str(case["label"]),
                    probabilities=tuple(float(p) for p in case["probabilities"]),
                )
                for case in raw["cases"]
            ),
        )
    except FileNotFoundError:
        raise ReferenceError(
            f"no golden reference at {path}: run `make train` (model/train.py writes it)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReferenceError(f"{path} is unreadable: {exc!r}") from None
    _check_shape(reference, path)
    _check_against_manifest(reference, model_dir)
    return reference


def _check_shape(reference: Reference, path: Path) -> None:
    width, classes = len(reference.feature_names), len(reference.class_names)
    if not reference.cases or not width or not classes:
        raise ReferenceError(f"{path} holds no cases, features or classes")
    if not 0 < reference.tolerance < 1:
        raise ReferenceError(f"{path}: tolerance {reference.tolerance} is not between 0 and 1")
    for i, case in enumerate(reference.cases):
        if len(case.features) != width or len(case.probabilities) != classes:
            raise ReferenceError(
                f"{path}: case {i} has {len(case.features)} features and "
                f"{len(case.probabilities)} probabilities; expected {width} and {classes}"
            )
        if case.label not in reference.class_names:
            raise ReferenceError(f"{path}: case {i} has unknown label {case.label!r}")


def _check_against_manifest(reference: Reference, model_dir: Path) -> None:
    path = model_dir / MANIFEST_FILE
    if not path.is_file():
        return
    try:
        manifest = json.loads(path.read_text())
        listed = {k: str(v["sha256"]) for k, v in manifest["artifacts"].items()}
        identity = (str(manifest["name"]), str(manifest["version"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReferenceError(f"{path} is unreadable: {exc!r}") from None
    if listed != reference.sha256 or identity != (reference.name, reference.version):
        raise ReferenceError(
            f"{model_dir / REFERENCE_FILE} describes other artifacts than {path} "
            "(a stale reference): run `make train` and commit model/artifacts/"
        )
