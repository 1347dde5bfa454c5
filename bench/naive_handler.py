"""The reference handler the benchmark compares against: what most tutorials deploy.

joblib.load at import and scikit-learn's predict per request; no validation, no logging.
"""

import json
from pathlib import Path

import joblib

MODEL = joblib.load(Path(__file__).resolve().parent.parent / "model" / "artifacts" / "model.joblib")


def lambda_handler(event, context):
    rows = json.loads(event["body"])["features"]
    rows = rows if isinstance(rows[0], list) else [rows]
    labels = MODEL.predict(rows)
    proba = MODEL.predict_proba(rows)
    predictions = [
        {"label": str(label), "probabilities": p}
        for label, p in zip(labels, proba.tolist(), strict=True)
    ]
    return {"statusCode": 200, "body": json.dumps({"predictions": predictions})}
