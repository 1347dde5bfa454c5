"""Cloud Functions entry point: the runtime imports `main.py` from the source root and calls the
function named by `--entry-point` (here `predict`)."""

from handler.gcp import answer_every_path, predict

answer_every_path()

__all__ = ["predict"]
