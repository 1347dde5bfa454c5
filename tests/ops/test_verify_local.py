"""`python -m ops.verify --url` against a real functions-framework server, healthy and tampered."""

from __future__ import annotations

import json

import pytest

from ops import verify
from tests.conftest import Server
from tests.ops.conftest import run_module

HTTP_CHECKS = [
    "health",
    "model_identity",
    "reference_predictions",
    "error_invalid_json",
    "error_wrong_feature_count",
    "error_not_found",
    "error_method_not_allowed",
    "error_payload_too_large",
    "max_body_accepted",
    "server_timing",
    "latency",
]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = verify.main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_the_served_model_passes_every_check(
    live_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(capsys, "--url", live_server.url, "--requests", "20")
    assert [c["name"] for c in report["checks"]] == HTTP_CHECKS
    assert [c["name"] for c in report["checks"] if not c["passed"]] == []
    assert (code, report["passed"], report["failed"]) == (0, True, [])
    assert report["target"] == {
        "kind": "url",
        "name": live_server.url,
        "url": live_server.url,
        "auth": "none",
        "model": None,  # no --model: the reference model's artifacts
    }
    details = {c["name"]: c["detail"] for c in report["checks"]}
    assert details["reference_predictions"].startswith("9 rows: labels identical")
    assert details["latency"].startswith("20 warm requests")


def test_the_table_names_every_check_and_the_verdict(
    live_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify.main(["--url", live_server.url + "/", "--requests", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"verify {live_server.url}, auth none\n")
    for name in HTTP_CHECKS:
        assert f"  {name} " in out
    assert out.rstrip().endswith(f"verify: all {len(HTTP_CHECKS)} checks passed")


def test_a_tampered_model_fails_closed_and_verify_names_what_failed(
    tampered_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a server whose model artifact has one flipped byte: it refuses to load it
    code, report = run_json(capsys, "--url", tampered_server.url, "--requests", "5")
    # THEN every check that needs the model fails, and only those
    assert code == 1 and not report["passed"]
    assert report["failed"] == [
        "health",
        "model_identity",
        "reference_predictions",
        "error_invalid_json",
        "error_wrong_feature_count",
        "error_payload_too_large",
        "latency",
    ]
    details = {c["name"]: c["detail"] for c in report["checks"]}
    assert details["health"] == "GET /health answered 503 model_unavailable"
    assert details["error_payload_too_large"] == (
        "cannot test: /health answered 503 model_unavailable"
    )
    assert details["latency"] == "5 of 5 answered 503 model_unavailable"
    # Routing is decided before the model is needed: 404 and 405 still follow the contract.
    assert details["error_not_found"] == "404 not_found"


def test_the_verdict_line_names_the_failed_checks(
    tampered_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify.main(["--url", tampered_server.url, "--requests", "1"]) == 1
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last.startswith("verify: 7 of ")
    assert last.endswith(
        "checks failed: health, model_identity, reference_predictions, error_invalid_json, "
        "error_wrong_feature_count, error_payload_too_large, latency"
    )


def test_another_expected_hash_fails_model_identity_only(
    live_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(
        capsys, "--url", live_server.url, "--requests", "1", "--expect-sha256", "85973b93d172"
    )
    assert (code, report["failed"]) == (1, ["model_identity"])


def test_a_latency_threshold_below_what_is_served_fails_latency(
    live_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(
        capsys, "--url", live_server.url, "--requests", "3", "--p99-ms", "0.001"
    )
    assert (code, report["failed"]) == (1, ["latency"])


def test_python_dash_m_runs_it_as_a_user_would(live_server: Server) -> None:
    done = run_module("ops.verify", "--url", live_server.url, "--requests", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert "verify: all 11 checks passed" in done.stdout
