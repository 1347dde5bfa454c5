"""cost_analysis.py end to end: text, JSON, the plot, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cost_analysis
from costing.prices import DEFAULT_PRICE_FILE

ROOT = Path(cost_analysis.__file__).parent
REFERENCE = ["--req-per-second-mean", "100", "--req-size-kb", "1", "--mem-mb", "512",
             "--duration-ms", "80"]  # fmt: skip


def run(capsys, *args: str) -> tuple[int, str, str]:
    """main(argv) in-process: exit status, stdout, stderr."""
    try:
        status = cost_analysis.main(list(args))
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def with_flag(flag: str, value: str) -> list[str]:
    args = list(REFERENCE)
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    return args


def test_text_report_prints_the_price_date_table_break_evens_and_recommendation(capsys):
    status, out, err = run(capsys, *REFERENCE)
    assert (status, err) == (0, "")
    assert "Prices as read on 2026-11-23" in out
    assert "not live prices" in out
    assert "100 req/s mean (8,640,000 req/day, 262,800,000 req/month)" in out
    assert "lambda_on_demand         490.56   requests 52.56, compute 175.20, gateway 262.80" in out
    assert "cloud_functions          348.00" in out
    assert "<- cheapest" in out.split("cloud_functions", 1)[1].split("\n", 1)[0]
    assert "lambda_provisioned  15 req/s (1,296,000 req/day), $73.58/month each" in out
    assert "fargate             never crosses: lambda_on_demand is cheaper throughout" in out
    assert "Cheapest for this workload: cloud_functions at $348.00 a month" in out
    assert "per-task capacity 7.5 req/s" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_json_output_shape(capsys):
    status, out, _ = run(capsys, *REFERENCE, "--json")
    assert status == 0
    doc = json.loads(out)
    assert set(doc) == {
        "prices", "month_hours", "inputs", "derived", "options", "cheapest", "break_even",
        "break_even_search_req_per_second", "recommendation", "plot",
    }  # fmt: skip
    assert doc["prices"]["read_on"] == "2026-11-23"
    assert doc["prices"]["file"] == "costing/prices.json"
    assert all(s["url"].startswith("https://") for s in doc["prices"]["sources"].values())
    assert doc["month_hours"] == 730
    assert doc["inputs"] == {
        "req_per_second_mean": 100.0, "req_size_kb": 1.0, "mem_mb": 512, "duration_ms": 80.0,
        "provisioned_concurrency": 2, "min_instances": 1, "arch": "x86_64", "free_tier": False,
    }  # fmt: skip
    assert doc["derived"]["mean_concurrency"] == pytest.approx(8.0)
    assert list(doc["options"]) == [
        "lambda_on_demand", "lambda_provisioned", "fargate", "kubernetes", "cloud_functions",
    ]  # fmt: skip
    for option in doc["options"].values():
        assert option["monthly_usd"] == pytest.approx(sum(option["breakdown"].values()), abs=1e-5)
        assert option["assumptions"] and all(isinstance(a, str) for a in option["assumptions"])
    assert doc["options"]["lambda_on_demand"]["breakdown"] == {
        "requests": 52.56, "compute": 175.20035, "gateway": 262.8,
    }  # fmt: skip
    assert set(doc["options"]["kubernetes"]["breakdown"]) == {
        "nodes", "cpu_credits", "control_plane", "load_balancer", "load_balancer_lcu",
    }  # fmt: skip
    assert doc["cheapest"] == "cloud_functions"
    provisioned = doc["break_even"]["lambda_provisioned"]
    assert provisioned["versus"] == "lambda_on_demand"
    assert provisioned["req_per_second"] == pytest.approx(15.0)
    assert provisioned["req_per_day"] == pytest.approx(1_296_000)
    assert provisioned["cheaper_above"] == "lambda_provisioned"
    assert doc["break_even"]["fargate"] == {
        "versus": "lambda_on_demand", "req_per_second": None, "req_per_day": None,
        "cheaper_above": None, "cheaper_throughout": "lambda_on_demand",
        "monthly_usd_at_break_even": None,
    }  # fmt: skip
    assert doc["recommendation"][0].startswith("Cheapest for this workload: cloud_functions")
    assert doc["plot"] is None


def test_free_tier_and_arch_flags_reach_the_model(capsys):
    _, out, _ = run(capsys, "--req-per-second-mean", "0.1", "--req-size-kb", "1", "--mem-mb",
                    "128", "--duration-ms", "100", "--free-tier", "--json")  # fmt: skip
    doc = json.loads(out)
    assert doc["inputs"]["free_tier"] is True
    assert doc["options"]["lambda_on_demand"]["monthly_usd"] == pytest.approx(0.2628)
    _, out, _ = run(capsys, *REFERENCE, "--arch", "arm64", "--json")
    assert json.loads(out)["options"]["lambda_on_demand"]["breakdown"]["compute"] == (
        pytest.approx(140.1607008)
    )


def test_prices_flag_overrides_the_price_table(tmp_path, capsys):
    data = json.loads(DEFAULT_PRICE_FILE.read_text(encoding="utf-8"))
    data["services"]["lambda"]["request_usd_per_million"] = 0.4
    data["services"]["lambda"]["read_on"] = "2027-01-05"
    custom = tmp_path / "mine.json"
    custom.write_text(json.dumps(data), encoding="utf-8")
    _, out, _ = run(capsys, *REFERENCE, "--prices", str(custom), "--json")
    doc = json.loads(out)
    assert doc["options"]["lambda_on_demand"]["breakdown"]["requests"] == pytest.approx(105.12)
    assert doc["prices"]["file"] == str(custom)
    assert doc["prices"]["read_on"] == "2026-11-23"  # the oldest date in the table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (with_flag("--req-per-second-mean", "-1"),
         "argument --req-per-second-mean: must be zero or more, got -1"),
        (with_flag("--req-per-second-mean", "nan"),
         "argument --req-per-second-mean: must be a finite number"),
        (with_flag("--req-per-second-mean", "inf"),
         "argument --req-per-second-mean: must be a finite number"),
        (with_flag("--req-per-second-mean", "lots"),
         "argument --req-per-second-mean: invalid float value: 'lots'"),
        (with_flag("--req-size-kb", "0"), "argument --req-size-kb: must be more than 0"),
        (with_flag("--req-size-kb", "-3"), "argument --req-size-kb: must be more than 0"),
        (with_flag("--req-size-kb", "6145"),
         "argument --req-size-kb: must be more than 0 and at most 6144 KB (Lambda's 6 MB"),
        (with_flag("--mem-mb", "127"), "argument --mem-mb: must be between 128 and 10240 MB"),
        (with_flag("--mem-mb", "10241"), "argument --mem-mb: must be between 128 and 10240 MB"),
        (with_flag("--mem-mb", "0"), "argument --mem-mb: must be between 128 and 10240 MB"),
        (with_flag("--mem-mb", "512.5"), "argument --mem-mb: invalid int value: '512.5'"),
        (with_flag("--duration-ms", "0"), "argument --duration-ms: must be more than 0"),
        (with_flag("--duration-ms", "-80"), "argument --duration-ms: must be more than 0"),
        (with_flag("--duration-ms", "900001"),
         "argument --duration-ms: must be more than 0 and at most 900000 ms (Lambda's 900 s"),
        (with_flag("--provisioned-concurrency", "0"),
         "argument --provisioned-concurrency: must be at least 1"),
        (with_flag("--provisioned-concurrency", "-2"),
         "argument --provisioned-concurrency: must be at least 1"),
        (with_flag("--min-instances", "-1"), "argument --min-instances: must be zero or more"),
        (with_flag("--arch", "sparc"), "argument --arch: invalid choice: 'sparc'"),
        (REFERENCE[:6], "the following arguments are required: --duration-ms"),
        (with_flag("--plot", "curves.jpg"), "argument --plot: must name a .png file"),
        (with_flag("--plot", "/no/such/dir/curves.png"),
         "argument --plot: directory '/no/such/dir' does not exist"),
        (with_flag("--prices", "/no/such/prices.json"),
         "prices file /no/such/prices.json: cannot read it"),
        ([*REFERENCE, "--unknown"], "unrecognized arguments: --unknown"),
    ],
)  # fmt: skip
def test_bad_input_ends_with_one_line_on_stderr_and_status_2(capsys, args, message):
    status, out, err = run(capsys, *args)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("cost_analysis.py: error: ")
    assert message in err
    assert "Traceback" not in err


def test_bad_price_file_is_a_one_line_error(tmp_path, capsys):
    data = json.loads(DEFAULT_PRICE_FILE.read_text(encoding="utf-8"))
    data["services"]["cloud_run"]["vcpu_usd_per_second"] = -0.000024
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    status, _, err = run(capsys, *REFERENCE, "--prices", str(bad))
    assert status == 2
    assert err == (
        f"cost_analysis.py: error: prices file {bad}: "
        "services.cloud_run.vcpu_usd_per_second: expected a positive number, got -2.4e-05\n"
    )


def test_plot_is_written_as_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "curves.png"
    status, out, _ = run(capsys, *REFERENCE, "--plot", str(target))
    assert status == 0
    assert out.rstrip().endswith(f"Plot written to {target}")
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000
    # 11 x 6.5 inches at 110 dpi: the IHDR chunk holds width and height
    assert int.from_bytes(data[16:20], "big") == 1210
    assert int.from_bytes(data[20:24], "big") == 715


def test_plot_path_reported_in_json(tmp_path, capsys, monkeypatch):
    drawn = []
    monkeypatch.setattr("costing.plot.write_plot", lambda analysis, path: drawn.append(path))
    target = tmp_path / "curves.png"
    _, out, _ = run(capsys, *REFERENCE, "--json", "--plot", str(target))
    assert json.loads(out)["plot"] == str(target)
    assert drawn == [target]


def test_unwritable_plot_is_a_one_line_error_with_status_1(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "taken.png"
    target.mkdir()  # a directory where the file should go
    status, out, err = run(capsys, *REFERENCE, "--plot", str(target))
    assert status == 1
    assert out == ""
    assert err.startswith(f"cost_analysis.py: error: cannot write the plot to {target}")
    assert err.count("\n") == 1


def test_plot_without_matplotlib_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    status, _, err = run(capsys, *REFERENCE, "--plot", str(tmp_path / "c.png"))
    assert status == 1
    assert err == (
        "cost_analysis.py: error: --plot needs matplotlib: pip install -r requirements.txt\n"
    )


@pytest.mark.slow
def test_script_runs_without_importing_matplotlib_unless_asked():
    code = (
        "import sys, cost_analysis\n"
        f"status = cost_analysis.main({[*REFERENCE, '--json']!r})\n"
        "print('matplotlib' in sys.modules, status)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.rstrip().endswith("False 0")


@pytest.mark.slow
def test_script_exit_status_from_the_shell():
    ok = subprocess.run(
        [sys.executable, "cost_analysis.py", *REFERENCE], cwd=ROOT, capture_output=True, text=True
    )
    assert ok.returncode == 0
    assert "Prices as read on 2026-11-23" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "cost_analysis.py", *with_flag("--mem-mb", "64")],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr == (
        "cost_analysis.py: error: argument --mem-mb: must be between 128 and 10240 MB "
        "(Lambda's range), got 64\n"
    )
