"""CodeDeploy's BeforeAllowTraffic hook: the new version must reproduce the reference predictions.

CodeDeploy invokes this once per deployment, before it shifts any traffic to the new version
(TARGET_VERSION: the stack sets it to the version it publishes, in the same update). It invokes
that version directly with the event API Gateway would send (GET /health, then every reference
case as one POST /predict batch; below ROUTE_PREFIX, /models/<name>, for a model other than the
stack's primary one) and checks:

- the version serves the model the reference was computed for (name, version, artifact SHA-256);
- labels are identical and every probability is within the reference's tolerance.

The reference (REFERENCE_BUCKET, REFERENCE_KEY) is the model's artifacts/reference.json, shipped
as an asset, or, for a model served from the model store, the reference of the very version the
stack pinned, in the store: every promotion is checked against its own predictions.

It then reports Succeeded or Failed to CodeDeploy. Anything unexpected is a failure: a hook that
never reports holds the deployment for an hour before CodeDeploy gives up.

Then, when the stack gives it a canary window (CANARY_SECONDS: a gradual release), it stays on
while CodeDeploy holds the first share of traffic on the new version and sends the canary its
own traffic: one prediction of the first reference case to the `live` alias every half second.
The alias routes each by its weights, so the new version's release alarms (errors, 5xx, p99 by
ExecutedVersion) judge real alias invocations even when nobody else calls the API. It stops the
deployment, which rolls `live` back, when the new version answers one of them wrongly, or when
fewer than CANARY_MIN_REQUESTS reached it by the end of the window: no evidence is no release.

Standard library and boto3 only (both are in the Lambda runtime), so the asset is this file.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config


@dataclass(frozen=True)
class Clients:
    lambda_: Any
    codedeploy: Any
    s3: Any

    @classmethod
    def default(cls) -> Clients:
        # A new version's first invoke starts a cold environment: allow for it, retry once.
        # Two invokes at two attempts of 60 s stay inside the hook's 5-minute timeout, so the
        # hook always lives to report.
        invoke = Config(read_timeout=60, retries={"max_attempts": 2, "mode": "standard"})
        return cls(
            boto3.client("lambda", config=invoke), boto3.client("codedeploy"), boto3.client("s3")
        )


ALIAS = "live"
# One canary request every half second: about 60 on the new version in a 5-minute 10% canary.
CANARY_INTERVAL_SECONDS = 0.5
# Left for the last invoke and the report when the window ends.
CANARY_MARGIN_SECONDS = 20


class CheckFailed(Exception):
    """When the new version cannot be asked at all (a failed invoke, an answer that is not JSON)"""


def handler(
    event: dict[str, Any],
    context: Any,
    clients: Clients | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    clients = clients or Clients.default()
    deployment = event["DeploymentId"]
    environ = dict(os.environ)
    try:
        problems = check(deployment, clients, environ)
    except Exception:
        problems = ["the check could not run: " + traceback.format_exc(limit=3)]
    status = "Failed" if problems else "Succeeded"
    _log(deployment=deployment, status=status, problems=problems)
    clients.codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=deployment,
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    result: dict[str, Any] = {"status": status, "problems": problems}
    window = float(environ.get("CANARY_SECONDS", "0"))
    if status == "Succeeded" and window > 0:
        if context is not None:  # never past the function's own timeout
            left = context.get_remaining_time_in_millis() / 1000 - CANARY_MARGIN_SECONDS
            window = min(window, left)
        result["canary"] = canary(deployment, clients, environ, window, sleep, clock)
    return result


def canary(
    deployment: str,
    clients: Clients,
    environ: dict[str, str],
    seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Send the canary its own traffic through `live` for `seconds`; stop the deployment (and so
    roll back) on a wrong answer from the new version, or on too little evidence."""
    function, version = environ["FUNCTION_NAME"], environ["TARGET_VERSION"]
    minimum = int(environ.get("CANARY_MIN_REQUESTS", "1"))
    try:
        raw = clients.s3.get_object(
            Bucket=environ["REFERENCE_BUCKET"], Key=environ["REFERENCE_KEY"]
        )
        case = json.loads(raw["Body"].read())["cases"][0]
        body = json.dumps({"features": case["features"]})
    except Exception as exc:  # checked moments ago; a failure now is no evidence either
        return _stop(clients, deployment, [f"the canary could not start: {exc}"], 0, 0)
    event = http_event("POST", environ.get("ROUTE_PREFIX", "") + "/predict", body)
    deadline, sent, on_new, problems = clock() + seconds, 0, 0, []
    while clock() < deadline and not problems:
        response = clients.lambda_.invoke(
            FunctionName=function, Qualifier=ALIAS, Payload=json.dumps(event).encode()
        )
        sent += 1
        if response.get("ExecutedVersion") == version:
            on_new += 1
            try:
                status, answer = _answer(response, version)
            except CheckFailed as exc:
                status, answer = 0, str(exc)
            if status != 200 or _label(answer) != case["label"]:
                problems.append(f"version {version} answered the canary {status}: {answer!r:.300}")
        sleep(CANARY_INTERVAL_SECONDS)
    if not problems and on_new < minimum:
        problems.append(
            f"no evidence: version {version} served {on_new} of {sent} canary requests through "
            f"{ALIAS} (at least {minimum} needed)"
        )
    if problems:
        return _stop(clients, deployment, problems, sent, on_new)
    _log(deployment=deployment, canary="passed", sent=sent, on_new_version=on_new)
    return {"sent": sent, "on_new_version": on_new, "problems": []}


def _label(answer: Any) -> Any:
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    return predictions[0].get("label") if isinstance(predictions, list) and predictions else None


def _stop(
    clients: Clients, deployment: str, problems: list[str], sent: int, on_new: int
) -> dict[str, Any]:
    """Stop the deployment with a rollback: CodeDeploy moves all of `live` back."""
    try:
        clients.codedeploy.stop_deployment(deploymentId=deployment, autoRollbackEnabled=True)
    except Exception as exc:  # already over (a rollback by an alarm, or promoted)
        problems = [*problems, f"could not stop the deployment: {exc}"]
    _log(deployment=deployment, canary="stopped", problems=problems, sent=sent, on_new=on_new)
    return {"sent": sent, "on_new_version": on_new, "problems": problems}


def check(deployment: str, clients: Clients, environ: dict[str, str]) -> list[str]:
    """Everything wrong with the version `deployment` shifts traffic to; [] when it is right."""
    function, version = environ["FUNCTION_NAME"], environ["TARGET_VERSION"]
    if "REFERENCE_KEY" not in environ:
        return [
            "no reference predictions were deployed with this stack: model/artifacts/"
            "reference.json was missing when it was synthesized (make train writes it)"
        ]
    raw = clients.s3.get_object(Bucket=environ["REFERENCE_BUCKET"], Key=environ["REFERENCE_KEY"])
    reference = json.loads(raw["Body"].read())
    _log(deployment=deployment, function=function, version=version)

    prefix = environ.get("ROUTE_PREFIX", "")
    status, health = invoke(
        clients.lambda_, function, version, http_event("GET", prefix + "/health")
    )
    if status != 200:
        return [f"GET {prefix}/health answered {status}: {health}"]
    problems = model_problems(reference, health.get("model") or {})
    rows = [case["features"] for case in reference["cases"]]
    body = json.dumps({"features": rows})
    status, answer = invoke(
        clients.lambda_, function, version, http_event("POST", prefix + "/predict", body)
    )
    if status != 200:
        return [*problems, f"POST {prefix}/predict answered {status}: {answer}"]
    return problems + prediction_problems(reference, answer)


def http_event(method: str, path: str, body: str = "") -> dict[str, Any]:
    """An HTTP API (payload 2.0) event, as the API would send it to the function."""
    agent = "codedeploy-pre-traffic-hook"
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": agent},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "userAgent": agent},
            "requestId": "pre-traffic-hook",
            "routeKey": f"{method} {path}",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def invoke(lambda_: Any, function: str, version: str, event: dict[str, Any]) -> tuple[int, Any]:
    """Invoke exactly `version` (not the alias) and return its status code and JSON body."""
    response = lambda_.invoke(
        FunctionName=function, Qualifier=version, Payload=json.dumps(event).encode()
    )
    return _answer(response, version)


def _answer(response: dict[str, Any], version: str) -> tuple[int, Any]:
    payload = response["Payload"].read()
    if response.get("FunctionError"):
        raise CheckFailed(f"version {version} failed: {payload[:500]!r}")
    try:
        answer = json.loads(payload)
        return int(answer["statusCode"]), json.loads(answer["body"])
    except (ValueError, KeyError, TypeError):
        raise CheckFailed(f"version {version} answered something else: {payload[:500]!r}") from None


def model_problems(reference: dict[str, Any], served: dict[str, Any]) -> list[str]:
    """/health names the model, and the first 12 hex digits of the artifact it serves."""
    expected = reference["model"]
    problems = []
    if (served.get("name"), served.get("version")) != (expected["name"], expected["version"]):
        problems.append(
            f"serves {served.get('name')} {served.get('version')}, the reference is for "
            f"{expected['name']} {expected['version']}"
        )
    artifact = expected["sha256"].get(served.get("backend"), "")
    if not served.get("sha256") or not artifact.startswith(str(served["sha256"])):
        problems.append(
            f"serves {served.get('backend')} artifact {served.get('sha256')}, the reference was "
            f"computed for {artifact[:12] or 'no such backend'}"
        )
    return problems


def prediction_problems(reference: dict[str, Any], answer: dict[str, Any]) -> list[str]:
    """Labels identical, probabilities within tolerance, classes in the reference's order."""
    cases, predictions = reference["cases"], answer.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(cases):
        return [f"expected {len(cases)} predictions, got {predictions!r:.200}"]
    problems = []
    if answer.get("classes") != reference["class_names"]:
        problems.append(f"classes {answer.get('classes')}, expected {reference['class_names']}")
    tolerance = float(reference["tolerance"])
    for i, (case, got) in enumerate(zip(cases, predictions, strict=True)):
        if got.get("label") != case["label"]:
            problems.append(f"case {i}: label {got.get('label')!r}, expected {case['label']!r}")
        difference = _max_difference(got.get("probabilities"), case["probabilities"])
        if difference > tolerance:
            problems.append(f"case {i}: probabilities differ by {difference:.2e} (> {tolerance})")
    return problems


def _max_difference(got: Any, expected: list[float]) -> float:
    if not isinstance(got, list) or len(got) != len(expected):
        return math.inf
    try:
        differences = [abs(float(g) - e) for g, e in zip(got, expected, strict=True)]
    except (TypeError, ValueError):  # a null (non-finite) probability
        return math.inf
    return max(differences) if all(math.isfinite(d) for d in differences) else math.inf


def _log(**fields: Any) -> None:
    print(json.dumps({"message": "pre-traffic check", **fields}, default=str))
