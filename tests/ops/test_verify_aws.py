"""`python -m ops.verify --stack` against moto: the stack's outputs lead to the API (the local
server stands in for API Gateway), and the alias, provisioned concurrency and alarms are read
with boto3."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from ops import verify
from tests.conftest import Server
from tests.ops.conftest import Recorder
from tests.ops.fake_aws import Deployment, deploy

STACK = "SklearnInference-dev"
STACK_CHECKS = ["stack_status", "live_alias", "provisioned_concurrency", "alarms"]


def run(
    deployment: Deployment, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, Any]]:
    code = verify.main(
        ["--stack", deployment.stack_name, "--requests", "3", "--json", *extra],
        session_factory=deployment.session_factory,
    )
    return code, json.loads(capsys.readouterr().out)


def details(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report["checks"]}


@pytest.fixture
def deployed(aws: boto3.Session, live_server: Server) -> Deployment:
    return deploy(aws, stack_name=STACK, api_url=live_server.url)


def test_a_healthy_stack_passes_every_check(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run(deployed, capsys)
    assert [c["name"] for c in report["checks"]][-4:] == STACK_CHECKS
    assert (code, report["failed"]) == (0, [])
    assert report["target"]["kind"] == "stack" and report["target"]["auth"] == "none"
    assert details(report)["live_alias"] == "live -> version 2, the newest published version"
    assert details(report)["provisioned_concurrency"] == "none configured"
    assert details(report)["alarms"] == "2 alarms: 2 OK"


def test_an_alias_left_on_an_older_version_fails(
    aws: boto3.Session, live_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy(aws, stack_name=STACK, api_url=live_server.url, alias_on_newest=False)
    code, report = run(deployment, capsys)
    assert (code, report["failed"]) == (1, ["live_alias"])
    assert details(report)["live_alias"] == (
        "live -> version 1, but the newest published version is 2"
    )


def test_an_alarm_in_alarm_fails_and_is_named(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.set_alarm("errors", "ALARM", "Threshold Crossed: 7 errors")
    # An alarm of another stack that shares no prefix is none of this stack's business.
    cloudwatch = deployed.session.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="Other-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="Other-errors", StateValue="ALARM", StateReason="x")
    code, report = run(deployed, capsys)
    assert (code, report["failed"]) == (1, ["alarms"])
    assert details(report)["alarms"] == (f"{STACK}-errors is in ALARM: Threshold Crossed: 7 errors")


def test_provisioned_concurrency_must_be_ready(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.provisioned_concurrency({"status": "IN_PROGRESS", "requested": 2, "allocated": 1})
    code, report = run(deployed, capsys)
    assert (code, report["failed"]) == (1, ["provisioned_concurrency"])
    assert details(report)["provisioned_concurrency"] == "live IN_PROGRESS (1/2 allocated)"

    deployed.provisioned_concurrency({"status": "READY", "requested": 2, "allocated": 2})
    code, report = run(deployed, capsys)
    assert code == 0
    assert details(report)["provisioned_concurrency"] == "live READY (2/2)"


def test_verify_only_reads_the_function(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    run(deployed, capsys)
    assert set(deployed.lambda_calls) == {
        "ListVersionsByFunction",
        "GetAlias",
        "ListProvisionedConcurrencyConfigs",
    }


def test_an_iam_api_is_called_with_sigv4(
    aws: boto3.Session, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stack whose API requires IAM auth (the recorder stands in for API Gateway)
    deployment = deploy(aws, stack_name=STACK, api_url=recorder.url, api_auth="iam")
    run(deployment, capsys)
    # THEN every request is signed for execute-api in the stack's region
    key = aws.get_credentials().access_key
    assert recorder.requests
    for request in recorder.requests:
        headers = request["headers"]
        assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={key}/")
        assert "/us-east-1/execute-api/aws4_request, SignedHeaders=" in headers["authorization"]
        assert headers["x-amz-security-token"] == "testing-session-token"
        assert "x-amz-date" in headers


def test_sigv4_can_be_forced_for_a_url(
    aws: boto3.Session, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    verify.main(
        ["--url", recorder.url, "--sigv4", "--requests", "1"], session_factory=lambda **_: aws
    )
    capsys.readouterr()
    assert all(
        r["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 ") for r in recorder.requests
    )


def test_a_stack_without_api_auth_output_is_called_without_auth(
    aws: boto3.Session, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy(aws, stack_name=STACK, api_url=recorder.url, api_auth=None)
    run(deployment, capsys)
    assert recorder.requests
    assert not any("authorization" in r["headers"] for r in recorder.requests)


def test_a_jwt_api_needs_a_token(
    aws: boto3.Session, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy(aws, stack_name=STACK, api_url=recorder.url, api_auth="jwt")
    code = verify.main(["--stack", STACK], session_factory=deployment.session_factory)
    assert code == 2
    assert capsys.readouterr().err == (
        f"verify: error: the API of stack {STACK} requires a JWT (ApiAuth=jwt): "
        "pass --id-token TOKEN\n"
    )
    assert recorder.requests == []

    run(deployment, capsys, "--id-token", "eyJ.jwt.sig")
    assert {r["headers"]["authorization"] for r in recorder.requests} == {"Bearer eyJ.jwt.sig"}
