"""The pre-traffic hook (stacks/release_hook/pre_traffic.py) judging a new version.

The version under test is the real handler, run in process on the committed model, behind a fake
Lambda client; the reference is computed here with scikit-learn in float64, as model/train.py
computes reference.json. CodeDeploy is botocore's Stubber (moto has no lifecycle hooks), so every
status report is checked against the service model; S3 is moto.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import joblib
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from stacks.release_hook import pre_traffic

ARTIFACTS = Path(__file__).resolve().parents[2] / "model" / "artifacts"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 4.2, 1.3], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 5.1, 1.8]]
DEPLOYMENT = {"DeploymentId": "d-ABC123", "LifecycleEventHookExecutionId": "exec-1"}
ENVIRON = {
    "FUNCTION_NAME": "inference-fn",
    "TARGET_VERSION": "7",
    "REFERENCE_BUCKET": "assets",
    "REFERENCE_KEY": "reference.json",
}


def reference() -> dict[str, Any]:
    """reference.json for the committed model, in its documented format."""
    manifest = json.loads((ARTIFACTS / "manifest.json").read_text())
    model = joblib.load(ARTIFACTS / "model.joblib")
    probabilities = model.predict_proba(ROWS)
    return {
        "model": {
            "name": manifest["name"],
            "version": manifest["version"],
            "sha256": {k: v["sha256"] for k, v in manifest["artifacts"].items()},
        },
        "tolerance": 1e-05,
        "feature_names": manifest["feature_names"],
        "class_names": manifest["class_names"],
        "cases": [
            {
                "features": row,
                "label": manifest["class_names"][int(p.argmax())],
                "probabilities": [float(x) for x in p],
            }
            for row, p in zip(ROWS, probabilities, strict=True)
        ],
    }


class InProcessVersion:
    """A Lambda client whose invoke runs the real handler, and records what was asked."""

    def __init__(self, context: Any, answer: Any = None) -> None:
        from handler import aws

        self._handler, self._context, self._answer = aws.lambda_handler, context, answer
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        event = json.loads(params["Payload"])
        result = self._answer(event) if self._answer else self._handler(event, self._context)
        payload = json.dumps(result).encode()
        return {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(payload), len(payload))}


class Deployment:
    """One CodeDeploy deployment's hook run against a version, with a reference in S3."""

    def __init__(self, context: Any) -> None:
        self.s3 = boto3.client("s3", region_name="eu-west-1")
        self.s3.create_bucket(
            Bucket="assets", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        self.codedeploy = boto3.client("codedeploy", region_name="eu-west-1")
        self.stub = Stubber(self.codedeploy)
        self.version = InProcessVersion(context)

    def run(
        self,
        ref: dict[str, Any] | None = None,
        expect: str = "Succeeded",
        environ: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self.s3.put_object(
            Bucket="assets", Key="reference.json", Body=json.dumps(ref or reference())
        )
        self.stub.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": "exec-1"},
            {
                "deploymentId": "d-ABC123",
                "lifecycleEventHookExecutionId": "exec-1",
                "status": expect,
            },
        )
        clients = pre_traffic.Clients(lambda_=self.version, codedeploy=self.codedeploy, s3=self.s3)
        with self.stub, pytest.MonkeyPatch.context() as patch:
            for name, value in {**ENVIRON, **(environ or {})}.items():
                patch.setenv(name, value)
            result = pre_traffic.handler(dict(DEPLOYMENT), None, clients)
        self.stub.assert_no_pending_responses()  # the status was reported, exactly once
        return result


@pytest.fixture
def deployment(context, monkeypatch) -> Iterator[Deployment]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield Deployment(context)


def test_a_version_that_reproduces_the_reference_passes(deployment):
    result = deployment.run()
    assert result == {"status": "Succeeded", "problems": []}
    # It asked exactly the version being deployed, never the alias, the way the API would
    assert [(c["FunctionName"], c["Qualifier"]) for c in deployment.version.calls] == [
        ("inference-fn", "7"),
        ("inference-fn", "7"),
    ]
    routes = [json.loads(c["Payload"])["routeKey"] for c in deployment.version.calls]
    assert routes == ["GET /health", "POST /predict"]


def test_one_of_several_models_is_checked_on_its_own_routes(deployment, context):
    # GIVEN a version of one of several models: it serves below its ROUTE_PREFIX only
    from handler import aws

    def below_prefix(event):
        path = event["rawPath"]
        if not path.startswith("/models/wine/"):
            return {"statusCode": 404, "body": json.dumps({"error": {"code": "not_found"}})}
        inner = path.removeprefix("/models/wine")
        http = {**event["requestContext"]["http"], "path": inner}
        event = {
            **event,
            "rawPath": inner,
            "requestContext": {**event["requestContext"], "http": http},
        }
        return aws.lambda_handler(event, context)

    deployment.version = InProcessVersion(context, answer=below_prefix)
    # WHEN the hook runs with the prefix the stack gives it
    result = deployment.run(environ={"ROUTE_PREFIX": "/models/wine"})
    # THEN it asked the model's own routes, and they passed
    assert result == {"status": "Succeeded", "problems": []}
    paths = [json.loads(c["Payload"])["rawPath"] for c in deployment.version.calls]
    assert paths == ["/models/wine/health", "/models/wine/predict"]


def test_a_wrong_label_fails_the_deployment(deployment):
    ref = reference()
    ref["cases"][0]["label"] = "virginica"
    result = deployment.run(ref, expect="Failed")
    assert result["problems"] == ["case 0: label 'setosa', expected 'virginica'"]


def test_probabilities_outside_the_tolerance_fail_the_deployment(deployment):
    ref = reference()
    ref["cases"][2]["probabilities"][0] += 1e-3
    (problem,) = deployment.run(ref, expect="Failed")["problems"]
    assert problem.startswith("case 2: probabilities differ by 1.00e-03")


def test_a_reference_for_another_model_fails_the_deployment(deployment):
    ref = reference()
    ref["model"]["version"] = "2.0.0"
    ref["model"]["sha256"] = {backend: "0" * 64 for backend in ref["model"]["sha256"]}
    problems = deployment.run(ref, expect="Failed")["problems"]
    assert problems[0].startswith("serves iris-logistic-regression 1.0.0, the reference is for")
    assert "the reference was computed for 000000000000" in problems[1]


def test_a_version_answering_503_fails_the_deployment(deployment):
    # A tampered or missing model: the handler answers, it does not raise
    deployment.version = InProcessVersion(
        None,
        lambda event: {
            "statusCode": 503,
            "body": json.dumps({"error": {"code": "model_unavailable"}}),
        },
    )
    (problem,) = deployment.run(expect="Failed")["problems"]
    assert problem.startswith("GET /health answered 503")


def test_a_crashing_version_fails_the_deployment(deployment, context):
    class Crashing(InProcessVersion):
        def invoke(self, **params: Any) -> dict[str, Any]:
            response = super().invoke(**params)
            return {**response, "FunctionError": "Unhandled"}

    deployment.version = Crashing(context)
    (problem,) = deployment.run(expect="Failed")["problems"]
    assert "version 7 failed" in problem


def test_a_check_that_cannot_run_still_reports_failure(deployment):
    # No reference object in S3: the hook must report, or CodeDeploy waits an hour
    deployment.stub.add_response(
        "put_lifecycle_event_hook_execution_status",
        {"lifecycleEventHookExecutionId": "exec-1"},
        {"deploymentId": "d-ABC123", "lifecycleEventHookExecutionId": "exec-1", "status": "Failed"},
    )
    clients = pre_traffic.Clients(
        lambda_=deployment.version, codedeploy=deployment.codedeploy, s3=deployment.s3
    )
    with deployment.stub, pytest.MonkeyPatch.context() as patch:
        for name, value in ENVIRON.items():
            patch.setenv(name, value)
        result = pre_traffic.handler(dict(DEPLOYMENT), None, clients)
    deployment.stub.assert_no_pending_responses()
    assert result["status"] == "Failed"
    assert (
        "the check could not run" in result["problems"][0] and "NoSuchKey" in result["problems"][0]
    )


def test_a_stack_deployed_without_a_reference_fails_every_release(deployment):
    clients = pre_traffic.Clients(
        lambda_=deployment.version, codedeploy=deployment.codedeploy, s3=deployment.s3
    )
    environ = {"FUNCTION_NAME": "inference-fn", "TARGET_VERSION": "7"}
    (problem,) = pre_traffic.check("d-ABC123", clients, environ)
    assert problem.startswith("no reference predictions were deployed with this stack")
    assert deployment.version.calls == []  # nothing is invoked against nothing to compare


def test_the_invoke_request_is_what_the_lambda_api_accepts():
    # The fake above accepts anything; botocore's model does not.
    client = boto3.client("lambda", region_name="eu-west-1")
    event = pre_traffic.http_event("GET", "/health")
    answer = json.dumps({"statusCode": 200, "body": json.dumps({"status": "ok"})}).encode()
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(answer), len(answer))},
            {
                "FunctionName": "inference-fn",
                "Qualifier": "7",
                "Payload": json.dumps(event).encode(),
            },
        )
        assert pre_traffic.invoke(client, "inference-fn", "7", event) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("probabilities", "expected"),
    [([0.5, 0.5, 0.0], 0.0), ([None, 0.5, 0.0], float("inf")), ([0.5], float("inf"))],
)
def test_non_finite_or_missing_probabilities_never_pass(probabilities, expected):
    assert pre_traffic._max_difference(probabilities, [0.5, 0.5, 0.0]) == expected


# The canary's own traffic: through `live`, which routes each request by its weights.


class Alias:
    """`live` mid-canary: every `every`-th invoke executes on the new version (7), the others on
    the old one (6); the new version's answer is the real handler's, or `answer`'s."""

    def __init__(self, context: Any, every: int = 10, answer: Any = None) -> None:
        self.version = InProcessVersion(context, answer)
        self.every, self.calls = every, 0

    def invoke(self, **params: Any) -> dict[str, Any]:
        assert params["Qualifier"] == "live"
        self.calls += 1
        executed = "7" if self.every and self.calls % self.every == 0 else "6"
        return {**self.version.invoke(**params), "ExecutedVersion": executed}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _canary(deployment: Deployment, alias: Alias, stop: bool) -> dict[str, Any]:
    deployment.s3.put_object(Bucket="assets", Key="reference.json", Body=json.dumps(reference()))
    if stop:
        deployment.stub.add_response(
            "stop_deployment",
            {"status": "Pending", "statusMessage": "stopping"},
            {"deploymentId": "d-ABC123", "autoRollbackEnabled": True},
        )
    clients = pre_traffic.Clients(lambda_=alias, codedeploy=deployment.codedeploy, s3=deployment.s3)
    clock = Clock()
    environ = {**ENVIRON, "CANARY_SECONDS": "60", "CANARY_MIN_REQUESTS": "10"}
    with deployment.stub:
        result = pre_traffic.canary(
            "d-ABC123", clients, environ, 60, clock.sleep, lambda: clock.now
        )
    deployment.stub.assert_no_pending_responses()  # stopped exactly when it had to
    return result


def test_the_canary_sends_its_own_traffic_through_live_for_the_window(deployment, context):
    # GIVEN 10% of live on the new version; a request every half second for a minute
    result = _canary(deployment, Alias(context), stop=False)
    # THEN 120 requests went through live, 12 of them to the new version, all answered right
    assert result == {"sent": 120, "on_new_version": 12, "problems": []}


def test_a_canary_without_evidence_stops_the_deployment(deployment, context):
    # GIVEN live that never reached the new version: nothing to judge it by
    result = _canary(deployment, Alias(context, every=0), stop=True)
    assert result["problems"] == [
        "no evidence: version 7 served 0 of 120 canary requests through live (at least 10 needed)"
    ]


def test_a_wrong_answer_from_the_new_version_stops_the_deployment_at_once(deployment, context):
    def broken(event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 503, "body": json.dumps({"error": {"code": "model_unavailable"}})}

    result = _canary(deployment, Alias(context, answer=broken), stop=True)
    assert result["sent"] == 10 and result["on_new_version"] == 1
    assert result["problems"][0].startswith("version 7 answered the canary 503")
