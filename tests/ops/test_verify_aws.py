"""`python -m ops.verify --stack` against moto: the stack's outputs lead to the API (the local
server stands in for API Gateway), and the alias, the version the stack published, provisioned
concurrency, the last release and the alarms are read with boto3. Each release state is one a
real release leaves: healthy, rolled back, rolled back by hand, still shifting, settling."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from ops import verify
from tests.conftest import Server
from tests.ops.conftest import Recorder
from tests.ops.fake_aws import Deployment, deploy

STACK = "SklearnInference-dev"
STACK_CHECKS = ["stack_status", "live_alias", "provisioned_concurrency", "alarms"]


class Clock:
    """Time that passes only when verify sleeps; `on_sleep` runs at each sleep (the world moving
    on meanwhile)."""

    def __init__(self, on_sleep: Callable[[int], None] = lambda _: None) -> None:
        self.now, self.sleeps, self._on_sleep = 0.0, [], on_sleep
        self.err = ""  # what verify said on stderr meanwhile

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self._on_sleep(len(self.sleeps))


def run(
    deployment: Deployment,
    capsys: pytest.CaptureFixture[str],
    *extra: str,
    clock: Clock | None = None,
) -> tuple[int, dict[str, Any]]:
    clock = clock or Clock()
    code = verify.main(
        ["--stack", deployment.stack_name, "--requests", "3", "--json", *extra],
        session_factory=deployment.session_factory,
        sleep=clock.sleep,
        clock=lambda: clock.now,
    )
    captured = capsys.readouterr()
    clock.err = captured.err
    return code, json.loads(captured.out)


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
    assert details(report)["live_alias"] == "live -> version 2, the version the stack published"
    assert details(report)["provisioned_concurrency"] == "none configured"
    assert details(report)["alarms"] == "2 alarms: 2 OK"


def test_after_a_rolled_back_release_live_on_the_stacks_version_passes(
    aws: boto3.Session, live_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a release of version 2 that CodeDeploy rolled back: version 2 still exists (the
    # newest), CloudFormation rolled the stack back to version 1, and live is on 1. A later
    # deploy that publishes nothing (a threshold) leaves exactly this.
    deployment = deploy(aws, stack_name=STACK, api_url=live_server.url, alias_on_newest=False)
    deployment.release("Stopped", "2", "Alarm SklearnInference-dev-release-errors-v2 in ALARM")
    code, report = run(deployment, capsys)
    assert (code, report["failed"]) == (0, [])
    assert details(report)["live_alias"] == (
        "live -> version 1, the version the stack published; the last release "
        f"{_last_deployment(deployment)} of version 2 rolled back: Alarm "
        "SklearnInference-dev-release-errors-v2 in ALARM"
    )


def _last_deployment(deployment: Deployment) -> str:
    group = deployment.session.client("codedeploy").get_deployment_group(
        applicationName="a", deploymentGroupName="g"
    )
    return str(group["deploymentGroupInfo"]["lastAttemptedDeployment"]["deploymentId"])


def test_after_a_manual_rollback_live_behind_the_stack_fails_and_says_how_to_fix_forward(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the README's manual rollback: live pointed back at 1, the stack still names 2
    deployed.route({}, version="1")
    code, report = run(deployed, capsys, "--settle-timeout", "0")
    assert (code, report["failed"]) == (1, ["live_alias"])
    assert details(report)["live_alias"].startswith(
        "live -> version 1, but the stack published version 2: live was moved back outside a "
        "deploy (a manual rollback"
    )


def test_a_settling_alias_is_waited_for_then_judged(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a good release of version 2 whose provisioned concurrency is still allocating:
    # Lambda routes half the traffic to the old version meanwhile
    deployed.route({"1": 0.5})
    deployed.provisioned_concurrency({"status": "IN_PROGRESS", "requested": 2, "allocated": 1})

    def allocated(sleeps: int) -> None:  # READY, and the weights gone, after two polls
        if sleeps == 2:
            deployed.route({})
            deployed.provisioned_concurrency({"status": "READY", "requested": 2, "allocated": 2})

    clock = Clock(allocated)
    code, report = run(deployed, capsys, clock=clock)
    # THEN verify waited (in bounded steps), and judged the settled state
    assert clock.sleeps == [verify.SETTLE_POLL_SECONDS] * 2
    assert (code, report["failed"]) == (0, [])
    assert details(report)["live_alias"] == (
        "live -> version 2, the version the stack published (settled after 30 s)"
    )
    assert details(report)["provisioned_concurrency"] == "live READY (2/2)"
    assert clock.err.splitlines()[0] == (
        "verify: waiting for the release to settle (0 s): live routes 50% to version 2, 50% to "
        "version 1"
    )


def test_a_release_that_never_settles_fails_after_the_timeout(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a canary still holding 10% of live on version 3, which CodeDeploy is deploying
    deployed.route({"3": 0.1})
    deployed.release("InProgress", "3")
    clock = Clock()
    code, report = run(deployed, capsys, "--settle-timeout", "40", clock=clock)
    assert clock.sleeps == [15, 15, 10]  # never past the timeout
    assert (code, report["failed"]) == (1, ["live_alias"])
    assert details(report)["live_alias"] == (
        "live routes 90% to version 2, 10% to version 3 after waiting 40 s: the release has not "
        "settled"
    )


def test_provisioned_concurrency_that_failed_is_not_waited_for(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.provisioned_concurrency(
        {
            "status": "FAILED",
            "requested": 2,
            "allocated": 0,
            "reason": "FUNCTION_ERROR_INIT_FAILURE",
        }
    )
    clock = Clock()
    code, report = run(deployed, capsys, clock=clock)
    assert clock.sleeps == []
    assert (code, report["failed"]) == (1, ["provisioned_concurrency"])
    assert details(report)["provisioned_concurrency"] == (
        "live FAILED (0/2 allocated): FUNCTION_ERROR_INIT_FAILURE"
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
    code, report = run(deployed, capsys, "--settle-timeout", "0")
    assert (code, report["failed"]) == (1, ["provisioned_concurrency"])
    assert details(report)["provisioned_concurrency"] == "live IN_PROGRESS (1/2 allocated)"

    deployed.provisioned_concurrency({"status": "READY", "requested": 2, "allocated": 2})
    code, report = run(deployed, capsys)
    assert code == 0
    assert details(report)["provisioned_concurrency"] == "live READY (2/2)"


def test_verify_only_reads(deployed: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    run(deployed, capsys)
    assert set(deployed.lambda_calls) == {"GetAlias", "ListProvisionedConcurrencyConfigs"}


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
