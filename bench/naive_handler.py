"""The reference handler the benchmark compares against: what most tutorials deploy.

joblib.load at import and scikit-learn's predict per request, no validation, no logging.
"""

import json
from pathlib import Path

import joblib

MODEL = joblib.load(Path(__file__).resolve().parent.parent / "model" / "artifacts" / "model.joblib")


def lambda_handler(event, context):
    features = json.loads(event["body"])["features"]
    label = MODEL.predict([features])[0]
    proba = MODEL.predict_proba([features])[0]
    return {
        "statusCode": 200,
        "body": json.dumps({"label": str(label), "probabilities": proba.tolist()}),
    }
