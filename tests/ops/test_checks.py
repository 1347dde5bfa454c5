"""verify's checks as pure functions: what passes, and what each failure says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ops.aws import Alarm, AliasState, ProvisionedConcurrency, Release, StackInfo
from ops.checks import (
    ExpectedModel,
    ReleaseState,
    check_alarms,
    check_error,
    check_health,
    check_latency,
    check_live_alias,
    check_model_identity,
    check_provisioned_concurrency,
    check_server_timing,
    check_stack_status,
    settling,
)
from ops.http_client import HttpResponse

EXPECTED = ExpectedModel(
    "iris-logistic-regression",
    "1.0.0",
    {"onnx": "87b87051e840" + "0" * 52, "joblib": "8f36" + "1" * 60},
)


def answer(status: int, body: Any, ms: float = 5.0, **headers: str) -> HttpResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(
        status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, data, ms
    )


def health(**model: str) -> HttpResponse:
    served = {
        "name": "iris-logistic-regression",
        "version": "1.0.0",
        "sha256": "87b87051e840",
        "backend": "onnx",
        **model,
    }
    return answer(200, {"status": "ok", "model": served, "cold_start": False})


def test_health_passes_on_200_ok_and_fails_on_anything_else() -> None:
    assert check_health(health()).passed
    failed = check_health(answer(503, {"error": {"code": "model_unavailable"}}))
    assert not failed.passed and failed.detail == "GET /health answered 503 model_unavailable"


def test_the_served_model_equals_the_manifest() -> None:
    result = check_model_identity(health(), EXPECTED)
    assert result.passed, result.detail
    assert (
        result.detail == "iris-logistic-regression 1.0.0, onnx sha256 87b87051e840 = local manifest"
    )


def test_the_backend_decides_which_artifact_hash_is_expected() -> None:
    assert check_model_identity(health(backend="joblib", sha256="8f3611111111"), EXPECTED).passed
    assert not check_model_identity(health(backend="joblib"), EXPECTED).passed


@pytest.mark.parametrize(
    ("served", "problem"),
    [
        ({"version": "0.9.0"}, "version '0.9.0', manifest has '1.0.0'"),
        ({"sha256": "85973b93d172"}, "onnx sha256 85973b93d172, manifest has 87b87051e840"),
        ({"backend": "tflite"}, "backend 'tflite' is not in the manifest"),
        ({"sha256": "87b8"}, "onnx sha256 87b8, manifest has 87b87051e840"),
    ],
)
def test_a_different_model_is_named(served: dict[str, str], problem: str) -> None:
    result = check_model_identity(health(**served), EXPECTED)
    assert not result.passed and problem in result.detail


def test_a_pinned_hash_replaces_the_manifest() -> None:
    pinned = ExpectedModel("x", "y", {}, pinned_sha256="85973b93d172aa")
    assert check_model_identity(health(sha256="85973b93d172"), pinned).passed
    assert not check_model_identity(health(), pinned).passed


def test_an_error_answer_has_its_status_code_and_allow_header() -> None:
    error = {"error": {"code": "method_not_allowed", "message": "..."}}
    for allow in ("POST", "POST, OPTIONS"):
        answered = answer(405, error, allow=allow)
        assert check_error(
            "e", answered, status=405, code="method_not_allowed", allow="POST"
        ).passed
    for allow in (None, "GET, HEAD, OPTIONS"):
        result = check_error(
            "e",
            answer(405, error, allow=allow),
            status=405,
            code="method_not_allowed",
            allow="POST",
        )
        assert not result.passed and f"Allow header {allow!r} does not list POST" in result.detail


def test_the_gateways_own_404_is_told_apart_from_the_handlers() -> None:
    result = check_error("e", answer(404, {"message": "Not Found"}), status=404, code="not_found")
    assert not result.passed
    assert result.detail == (
        'expected 404 not_found, got 404 {"message": "Not Found"}; '
        "answered by the API gateway, not the handler"
    )


def test_server_timing_must_be_on_every_answer() -> None:
    timed = [
        answer(200, {}, server_timing="handler;dur=0.3"),
        answer(200, {}, server_timing="handler;dur=0.1, init;dur=150"),
    ]
    result = check_server_timing(timed)
    assert result.passed and "1 cold" in result.detail
    result = check_server_timing([*timed, answer(200, {})])
    assert not result.passed and result.detail.startswith("1 of 3 answers carry no")


def test_latency_is_judged_on_warm_answers_only() -> None:
    answers = [answer(200, {}, ms=2900.0, server_timing="handler;dur=1, init;dur=2800")]
    answers += [
        answer(200, {}, ms=float(ms), server_timing="handler;dur=1") for ms in range(1, 100)
    ]
    result = check_latency(answers, 1000.0)
    assert result.passed, result.detail
    assert result.detail.startswith("99 warm requests: p50 50.0 ms, p99 98.0 ms")


def test_latency_says_when_the_gateway_throttled() -> None:
    answers = [answer(200, {}, ms=5.0, server_timing="handler;dur=1")]
    result = check_latency(answers, 1000.0, throttled=3)
    assert result.passed and "(waited out 3 throttling 429s)" in result.detail


def test_latency_over_the_threshold_or_failed_requests_fail() -> None:
    slow = [answer(200, {}, ms=1200.0, server_timing="handler;dur=1")] * 3
    result = check_latency(slow, 1000.0)
    assert (
        not result.passed and "p50 1200.0 ms and p99 1200.0 ms not under 1000 ms" in result.detail
    )
    failing = [answer(503, {"error": {"code": "model_unavailable"}})] * 2
    assert check_latency(failing, 1000.0).detail == "2 of 2 answered 503 model_unavailable"


def stack(status: str, reason: str = "") -> StackInfo:
    return StackInfo("S", "us-east-1", status, reason, {})


def test_only_a_completed_deploy_passes() -> None:
    assert check_stack_status(stack("UPDATE_COMPLETE")).passed
    result = check_stack_status(stack("UPDATE_ROLLBACK_COMPLETE", "Resource failed"))
    assert not result.passed
    assert (
        result.detail
        == "UPDATE_ROLLBACK_COMPLETE: Resource failed (the last deploy did not complete)"
    )


LIVE_ON_7 = AliasState(True, "7", {})


def state(
    alias: AliasState = LIVE_ON_7,
    stack_version: str | None = "7",
    provisioned: tuple[ProvisionedConcurrency, ...] = (),
    release: Release | None = None,
) -> ReleaseState:
    return ReleaseState(alias, stack_version, provisioned, release)


ROLLED_BACK = Release("d-8", "Stopped", "8", "Alarm release-errors-v8 in ALARM")


@pytest.mark.parametrize(
    ("given", "passed", "detail"),
    [
        (state(), True, "live -> version 7, the version the stack published"),
        # A rolled-back release: version 8 exists, the stack (rolled back too) names 7
        (
            state(release=ROLLED_BACK),
            True,
            "live -> version 7, the version the stack published; the last release d-8 of version "
            "8 rolled back: Alarm release-errors-v8 in ALARM",
        ),
        # The README's manual rollback: the stack still names 8
        (
            state(stack_version="8"),
            False,
            "live -> version 7, but the stack published version 8: live was moved back outside "
            "a deploy (a manual rollback, README 'Releasing on AWS'?): fix forward with a revert "
            "and make deploy-aws, which releases it as a new version",
        ),
        (
            state(stack_version="6"),
            False,
            "live -> version 7, but the stack published version 6: live was moved outside a deploy",
        ),
        (
            state(AliasState(True, "7", {"8": 0.1})),
            False,
            "live routes 90% to version 7, 10% to version 8: the release has not settled",
        ),
        (state(AliasState(False, None, {})), False, "fn has no alias 'live'"),
        (
            state(stack_version=None),
            False,
            "live -> version 7, but the stack names no version of fn",
        ),
    ],
)
def test_live_must_serve_the_version_the_stack_published(
    given: ReleaseState, passed: bool, detail: str
) -> None:
    result = check_live_alias(given, "fn")
    assert (result.passed, result.detail) == (passed, detail)


def test_a_wait_is_reported() -> None:
    assert check_live_alias(state(), "fn", 45).detail.endswith("(settled after 45 s)")
    weighted = state(AliasState(True, "8", {"7": 0.25}))
    assert check_live_alias(weighted, "fn", 300).detail == (
        "live routes 75% to version 8, 25% to version 7 after waiting 300 s: the release has not "
        "settled"
    )


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (state(), None),
        (state(release=ROLLED_BACK), None),
        (state(release=Release("d-9", "Succeeded", "7", "")), None),
        # A canary: CodeDeploy holds 10% on the new version for its interval
        (
            state(AliasState(True, "7", {"8": 0.1}), release=Release("d-9", "InProgress", "8", "")),
            "CodeDeploy deployment d-9 is InProgress to version 8",
        ),
        # After the shift, Lambda keeps weights until the new version's allocation is READY
        (
            state(AliasState(True, "8", {"7": 0.5})),
            "live routes 50% to version 8, 50% to version 7",
        ),
        (
            state(provisioned=(ProvisionedConcurrency("live", "IN_PROGRESS", 2, 1, ""),)),
            "provisioned concurrency live IN_PROGRESS (1/2 allocated)",
        ),
        # A failed allocation will not pass by waiting
        (state(provisioned=(ProvisionedConcurrency("live", "FAILED", 2, 0, "init"),)), None),
    ],
)
def test_what_is_still_settling(given: ReleaseState, reason: str | None) -> None:
    assert settling(given) == reason


def test_provisioned_concurrency_must_be_ready_where_configured() -> None:
    assert check_provisioned_concurrency([]).detail == "none configured"
    ready = ProvisionedConcurrency("live", "READY", 2, 2, "")
    assert check_provisioned_concurrency([ready]).passed
    failed = ProvisionedConcurrency("live", "FAILED", 2, 0, "Function failed to initialize")
    result = check_provisioned_concurrency([ready, failed])
    assert not result.passed
    assert result.detail == "live FAILED (0/2 allocated): Function failed to initialize"


def test_no_alarm_may_be_firing() -> None:
    alarms = [Alarm("S-errors", "OK", ""), Alarm("S-throttles", "INSUFFICIENT_DATA", "")]
    result = check_alarms(alarms, "S-")
    assert result.passed and result.detail == "2 alarms: 1 INSUFFICIENT_DATA, 1 OK"
    result = check_alarms([*alarms, Alarm("S-api-5xx", "ALARM", "Threshold Crossed")], "S-")
    assert not result.passed and result.detail == "S-api-5xx is in ALARM: Threshold Crossed"
    assert not check_alarms([], "S-").passed
