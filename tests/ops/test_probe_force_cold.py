"""`probe --stack NAME --force-cold N` against moto: N fresh environments of the unqualified
function, Init Duration from the REPORT lines in CloudWatch Logs, the environment restored, and
the live alias never touched. Invoke itself is the one stand-in (moto's needs Docker)."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from ops import probe
from ops.cold_start import NOOP_VARIABLE, force_cold_starts, http_api_event
from tests.conftest import SETOSA, LambdaContext, Server
from tests.ops.fake_aws import INIT_DURATION_MS, ORIGINAL_ENVIRONMENT, Deployment, deploy

STACK = "SklearnInference-dev"
REQUEST_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
# What forcing cold starts may call: reads, the $LATEST configuration update, and Invoke.
ALLOWED_CALLS = {
    "GetFunction",
    "GetFunctionConfiguration",
    "UpdateFunctionConfiguration",
    "Invoke",
}


@pytest.fixture
def deployed(aws: boto3.Session, live_server: Server) -> Deployment:
    deployment = deploy(aws, stack_name=STACK, api_url=live_server.url)
    deployment.fake_invoke()
    return deployment


def run(
    deployment: Deployment, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, dict[str, Any]]:
    # A REPORT line the stand-in did not write must not hold the suite for the default 90 s.
    code = probe.main(
        ["--stack", STACK, "--json", "--log-wait", "2", *argv],
        session_factory=deployment.session_factory,
    )
    return code, json.loads(capsys.readouterr().out)


def test_each_forced_invoke_starts_a_fresh_environment_and_reports_its_init(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run(deployed, capsys, "--force-cold", "3", "--requests", "5")
    assert code == 0, report
    # THEN three invokes of $LATEST, each after a configuration change: three cold starts
    assert [i["qualifier"] for i in deployed.invokes] == ["$LATEST"] * 3
    assert [i["cold"] for i in deployed.invokes] == [True] * 3
    nonces = {i["environment"][NOOP_VARIABLE] for i in deployed.invokes}
    assert len(nonces) == 3
    assert all(
        {k: v for k, v in i["environment"].items() if k != NOOP_VARIABLE} == ORIGINAL_ENVIRONMENT
        for i in deployed.invokes
    )
    # AND each one's Init Duration, from its REPORT line, next to the handler's own init
    forced = report["forced_cold_starts"]
    assert [f["report"]["init_ms"] for f in forced] == [INIT_DURATION_MS] * 3
    assert {f["request_id"] for f in forced} == {f["report"]["request_id"] for f in forced}
    assert [f["server_timing_init_ms"] for f in forced] == [162.4] * 3
    assert report["groups"]["cold (forced)"]["client_ms"]["n"] == 3
    assert report["groups"]["warm"]["client_ms"]["n"] == 5
    assert report["targets"]["cold"]["met"] is True


def test_the_environment_is_restored_and_the_alias_left_alone(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    run(deployed, capsys, "--force-cold", "2", "--requests", "1")
    assert set(deployed.lambda_calls) <= ALLOWED_CALLS, deployed.lambda_calls
    assert deployed.environment() == ORIGINAL_ENVIRONMENT
    assert deployed.alias_version() == "2"
    versions = deployed.session.client("lambda").list_versions_by_function(
        FunctionName=deployed.function_name
    )["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]


def test_the_forced_invoke_is_an_event_the_lambda_adapter_serves() -> None:
    import handler.aws

    event = http_api_event("POST", "/predict", json.dumps({"features": SETOSA}).encode())
    response = handler.aws.lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["predictions"][0]["label"] == "setosa"


def test_the_table_shows_the_forced_cold_starts(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--stack", STACK, "--force-cold", "2", "--requests", "2", "--log-wait", "2"]
    assert probe.main(argv, session_factory=deployed.session_factory) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0].startswith("forced cold start 1/2: ")
    out = captured.out
    assert f"Forced cold starts of {deployed.function_name} ($LATEST, direct invoke;" in out
    rows = [line for line in out.splitlines() if f"{INIT_DURATION_MS}" in line]
    assert len(rows) == 2 and all("4.2" in row and "162.4" in row for row in rows)
    assert "  cold < 3000 ms (max, end to end): met (" in out


def test_a_cold_target_missed_fails_the_probe(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run(
        deployed, capsys, "--force-cold", "1", "--requests", "0", "--cold-target-ms", "0.001"
    )
    assert (code, report["targets"]["cold"]["met"], report["passed"]) == (1, False, False)


def test_a_failing_invoke_still_restores_the_environment(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    def throttled(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}
        return AWSResponse("https://lambda.invalid", 429, {}, None), error

    deployed._stand_in("Invoke", throttled)
    code = probe.main(
        ["--stack", STACK, "--force-cold", "2", "--log-wait", "2"],
        session_factory=deployed.session_factory,
    )
    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "probe: error: AWS Invoke failed: TooManyRequestsException: Rate exceeded"
    )
    assert deployed.environment() == ORIGINAL_ENVIRONMENT


def test_a_function_that_fails_its_cold_start_fails_the_probe(
    deployed: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    # An init that raises: Lambda answers the invoke with FunctionError instead of an answer
    # (and still writes the REPORT line).
    def crashed(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        deployed._report(REQUEST_ID, cold=True)
        body = b'{"errorType": "Runtime.ImportModuleError"}'
        return AWSResponse("https://lambda.invalid", 200, {}, None), {
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "Payload": StreamingBody(io.BytesIO(body), len(body)),
            "ResponseMetadata": {"RequestId": REQUEST_ID, "HTTPStatusCode": 200},
        }

    deployed._stand_in("Invoke", crashed)
    code, report = run(deployed, capsys, "--force-cold", "1", "--requests", "0")
    assert (code, report["statuses"]) == (1, {"error": 1})
    [failure] = report["failures"]
    assert failure.startswith("the function failed (Unhandled): ")
    assert report["forced_cold_starts"][0]["report"]["init_ms"] == INIT_DURATION_MS
    assert deployed.environment() == ORIGINAL_ENVIRONMENT


def test_report_lines_that_never_arrive_are_waited_for_a_bounded_time(
    aws: boto3.Session, live_server: Server
) -> None:
    deployment = deploy(aws, stack_name=STACK, api_url=live_server.url)
    deployment.fake_invoke(write_report=False)
    forced = force_cold_starts(
        aws,
        function_name=deployment.function_name,
        log_group=deployment.log_group,
        count=1,
        event=http_api_event("POST", "/predict", b"{}"),
        timeout=5,
        log_wait_s=0.2,
    )
    assert [f.report for f in forced] == [None]
    assert forced[0].sample.init_ms is not None  # the answer's own Server-Timing still says cold
