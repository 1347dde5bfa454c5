"""`python -m ops.probe --url` against a real functions-framework server: bounded load, the
cold/warm split, the table, JSON and plot."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ops import probe
from ops.http_client import HttpClient
from ops.load import Request, run_load
from tests.conftest import Server
from tests.ops.conftest import Recorder, run_module

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = probe.main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_every_request_is_answered_and_classified(
    live_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(
        capsys, "--url", live_server.url, "--requests", "30", "--concurrency", "3"
    )
    assert code == 0 and report["passed"]
    assert report["statuses"] == {"200": 30} and report["failures"] == {}
    assert len(report["samples"]) == 30
    # The server has answered before (its readiness check): every answer here is warm.
    assert set(report["groups"]) == {"warm"}
    warm = report["groups"]["warm"]
    assert warm["client_ms"]["n"] == 30
    assert 0 < warm["server_ms"]["p50"] <= warm["client_ms"]["p50"]
    assert 0 < warm["server_share"] < 1
    assert report["targets"]["warm"]["met"] is True
    assert report["targets"]["cold"] == {
        "limit_ms": 3000.0,
        "statistic": "max",
        "value_ms": None,
        "met": None,
    }


def test_the_duration_caps_the_load(
    live_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(
        capsys, "--url", live_server.url, "--requests", "100000", "--duration", "0.5"
    )
    assert code == 0
    assert 0 < len(report["samples"]) < 100_000
    assert all(s["offset_s"] < 0.5 for s in report["samples"])
    assert report["load"]["elapsed_s"] < 0.5 + 5  # the cap, plus at most one slow answer


def test_the_table_and_the_plot(
    live_server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plot = tmp_path / "latency.png"
    assert probe.main(["--url", live_server.url, "--requests", "20", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"probe {live_server.url}, auth none"
    assert lines[1].startswith("20 requests (POST /predict, one row), concurrency 4, ")
    assert lines[1].endswith("answers: 20 x 200")
    assert any(re.match(r"\s+warm\s+20\s", line) for line in lines), out
    assert "  warm < 100 ms (p99, end to end): met (" in out
    assert "  cold < 3000 ms (max, end to end): not measured" in out
    assert lines[-1] == "probe: targets met, every request answered"
    assert plot.read_bytes().startswith(PNG_MAGIC) and plot.stat().st_size > 10_000
    assert (
        probe.main(["--url", live_server.url, "--requests", "2", "--json", "--plot", str(plot)])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["plot"] == str(plot)


def test_a_tampered_model_fails_every_request(
    tampered_server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plot = tmp_path / "nothing.png"
    code, report = run_json(
        capsys, "--url", tampered_server.url, "--requests", "8", "--plot", str(plot)
    )
    assert code == 1 and not report["passed"]
    assert report["plot"] is None and not plot.exists()  # nothing answered: nothing to draw
    assert report["statuses"] == {"503": 8}
    assert report["failures"] == {"HTTP 503": 8}
    assert report["groups"] == {}  # a 503 in a millisecond must not flatter the warm numbers
    assert probe.main(["--url", tampered_server.url, "--requests", "2"]) == 1
    assert capsys.readouterr().out.rstrip().endswith("probe: 2 requests failed")


def test_a_warm_target_below_what_is_served_is_missed(
    live_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(
        capsys, "--url", live_server.url, "--requests", "5", "--warm-target-ms", "0.001"
    )
    assert (code, report["targets"]["warm"]["met"]) == (1, False)


def test_the_load_never_exceeds_its_bounds(recorder: Recorder) -> None:
    samples = run_load(
        lambda: HttpClient(recorder.url, timeout=5),
        Request("POST", "/predict", b"{}"),
        requests=7,
        concurrency=16,
        duration_s=30,
    )
    assert len(samples) == len(recorder.requests) == 7
    assert [s.status for s in samples] == [200] * 7
    assert {r["path"] for r in recorder.requests} == {"/predict"}
    assert samples == sorted(samples, key=lambda s: s.offset_s)


def test_python_dash_m_runs_it_as_a_user_would(live_server: Server) -> None:
    done = run_module("ops.probe", "--url", live_server.url, "--requests", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("probe: targets met, every request answered")
