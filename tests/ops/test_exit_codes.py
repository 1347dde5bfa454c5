"""Exit status 2, with one line and never a traceback, whenever verify or probe cannot run:
usage, connection, credentials, missing tools, unknown stacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from ops import probe, verify
from ops.gcp import PULUMI_DIR
from tests.conftest import Server, free_port
from tests.ops.conftest import Recorder, pulumi_script, run_module

COMMANDS = {"verify": verify.main, "probe": probe.main}


def exit_code(main: Callable[..., int], argv: list[str], **kwargs: object) -> int | str | None:
    """The exit status, whether main returns it or argparse exits with it."""
    try:
        return main(argv, **kwargs)
    except SystemExit as exited:
        return exited.code


def one_line_error(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"{prog}: error: ")
    assert "Traceback" not in captured.err
    return captured.err.removeprefix(f"{prog}: error: ").rstrip("\n")


@pytest.fixture(params=sorted(COMMANDS))
def command(request: pytest.FixtureRequest) -> tuple[str, Callable[..., int]]:
    return request.param, COMMANDS[request.param]


def test_an_unreachable_url(
    command: tuple[str, Callable[..., int]], capsys: pytest.CaptureFixture[str]
) -> None:
    prog, main = command
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--url", url]) == 2
    # verify stops at its first request; probe at its first connection
    where = f"GET {url}/health" if prog == "verify" else url
    assert one_line_error(capsys, prog) == (
        f"cannot reach {where}: connection refused (is the server running?)"
    )


def test_an_unreachable_url_as_a_process_prints_one_line_and_no_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = run_module("ops.verify", "--url", url)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"verify: error: cannot reach GET {url}/health: connection refused "
        "(is the server running?)\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "one of the arguments --url --stack --pulumi-stack is required"),
        (
            ["--url", "http://a", "--stack", "S"],
            "argument --stack: not allowed with argument --url",
        ),
        (["--url", "ftp://host"], "not an http(s) URL: 'ftp://host'"),
        (["--url", "http://127.0.0.1:1", "--requests", "0"], "--requests"),
        (["--url", "http://127.0.0.1:1", "--timeout", "-1"], "argument --timeout: must be above 0"),
    ],
)
def test_usage_errors(
    command: tuple[str, Callable[..., int]],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    prog, main = command
    assert exit_code(main, argv) == 2
    assert message in one_line_error(capsys, prog)


def test_verify_refuses_a_malformed_expected_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(verify.main, ["--url", "http://127.0.0.1:1", "--expect-sha256", "xyz"]) == 2
    assert "not 6 to 64 hex digits: 'xyz'" in one_line_error(capsys, "verify")


def test_probe_force_cold_needs_an_aws_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert probe.main(["--url", "http://127.0.0.1:1", "--force-cold", "2"]) == 2
    assert one_line_error(capsys, "probe") == (
        "--force-cold needs --stack: it changes the AWS function's configuration"
    )


def test_probe_refuses_a_plot_it_could_not_write(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert (
        probe.main(["--url", "http://127.0.0.1:1", "--plot", str(tmp_path / "no" / "p.png")]) == 2
    )
    assert "does not exist" in one_line_error(capsys, "probe")
    assert probe.main(["--url", "http://127.0.0.1:1", "--plot", str(tmp_path / "p.svg")]) == 2
    assert "must name a .png file" in one_line_error(capsys, "probe")


def test_credentials_the_target_refuses(
    recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder.status, recorder.body = 403, b'{"message":"Forbidden"}'
    assert verify.main(["--url", recorder.url, "--id-token", "expired-token"]) == 2
    message = one_line_error(capsys, "verify")
    assert message == (
        f"GET {recorder.url}/health answered 403: the token was refused: expired, for another "
        "audience, or its account lacks roles/run.invoker"
    )
    assert "expired-token" not in message


def test_no_aws_credentials(
    command: tuple[str, Callable[..., int]], capsys: pytest.CaptureFixture[str]
) -> None:
    # The autouse fixture has removed every AWS_* variable and config file, and disabled
    # instance metadata: nothing is left for botocore to find.
    prog, main = command
    assert main(["--stack", "SklearnInference-dev", "--region", "us-east-1"]) == 2
    assert one_line_error(capsys, prog).startswith("no AWS credentials found")


def test_no_aws_region(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert verify.main(["--stack", "SklearnInference-dev"]) == 2
    assert one_line_error(capsys, "verify") == (
        "no AWS region configured: pass --region or set AWS_REGION"
    )


def test_an_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert verify.main(["--stack", "S", "--profile", "nobody"]) == 2
    assert one_line_error(capsys, "verify") == "The config profile (nobody) could not be found"


def test_an_unknown_stack(
    command: tuple[str, Callable[..., int]], aws: boto3.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    prog, main = command
    assert main(["--stack", "NoSuchStack"], session_factory=lambda **_: aws) == 2
    assert one_line_error(capsys, prog) == (
        "no CloudFormation stack named 'NoSuchStack' in us-east-1 "
        "(check the name, --region and --profile)"
    )


def test_a_stack_without_an_api(aws: boto3.Session, capsys: pytest.CaptureFixture[str]) -> None:
    aws.client("cloudformation").create_stack(
        StackName="Other",
        TemplateBody='{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}',
    )
    assert verify.main(["--stack", "Other"], session_factory=lambda **_: aws) == 2
    assert one_line_error(capsys, "verify") == (
        "stack Other has no output 'ApiUrl' (outputs: none); is it a SklearnInference stack?"
    )


def test_the_pulumi_cli_is_missing(
    command: tuple[str, Callable[..., int]],
    fake_bin: Callable[[str, str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    prog, main = command
    assert main(["--pulumi-stack", "dev"]) == 2
    assert one_line_error(capsys, prog) == (
        "the Pulumi CLI (pulumi) is not installed or not on PATH: install it "
        "(https://www.pulumi.com/docs/install/) and run `pulumi login`"
    )


def test_an_unknown_pulumi_stack(
    fake_bin: Callable[[str, str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_bin("pulumi", pulumi_script({"url": "http://x"}, stack="dev", record=tmp_path / "calls"))
    assert verify.main(["--pulumi-stack", "staging"]) == 2
    assert one_line_error(capsys, "verify") == (
        "`pulumi stack output --json --stack staging` failed: error: no stack named 'staging' found"
    )


def test_gcloud_is_missing_for_a_private_function(
    command: tuple[str, Callable[..., int]],
    fake_bin: Callable[[str, str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prog, main = command
    outputs = {"url": "https://sklearn-inference-dev-abc-uc.a.run.app", "public": False}
    fake_bin("pulumi", pulumi_script(outputs, stack="dev", record=tmp_path / "calls"))
    assert main(["--pulumi-stack", "dev"]) == 2
    assert one_line_error(capsys, prog) == (
        "the gcloud CLI (gcloud) is not installed or not on PATH: install the Google Cloud CLI "
        "(https://cloud.google.com/sdk/docs/install) and run `gcloud auth login`, or pass "
        "--id-token"
    )


def test_gcloud_that_fails_says_why(
    fake_bin: Callable[[str, str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {"url": "https://sklearn-inference-dev-abc-uc.a.run.app", "public": False}
    fake_bin("pulumi", pulumi_script(outputs, stack="dev", record=tmp_path / "calls"))
    fake_bin(
        "gcloud",
        "echo 'ERROR: (gcloud.auth.print-identity-token) You do not currently have an active account selected.' >&2\nexit 1\n",
    )
    assert verify.main(["--pulumi-stack", "dev"]) == 2
    assert one_line_error(capsys, "verify") == (
        "`gcloud auth print-identity-token` failed: ERROR: (gcloud.auth.print-identity-token) "
        "You do not currently have an active account selected."
    )


def test_the_pulumi_program_folder_is_where_outputs_are_read(
    fake_bin: Callable[[str, str], Path],
    tmp_path: Path,
    live_server: Server,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = tmp_path / "calls"
    fake_bin(
        "pulumi", pulumi_script({"url": live_server.url, "public": True}, stack="dev", record=calls)
    )
    verify.main(["--pulumi-stack", "dev", "--requests", "1", "--json"])
    capsys.readouterr()
    assert calls.read_text() == f"{PULUMI_DIR} stack output --json --stack dev\n"


def test_an_abbreviated_option_is_a_usage_error_not_another_option(
    command: tuple[str, Callable[..., int]], capsys: pytest.CaptureFixture[str]
) -> None:
    # `--pulumi` must not silently mean --pulumi-stack (nor `--model` an older --model-dir).
    prog, main = command
    assert exit_code(main, ["--pulumi", "dev"]) == 2
    assert "one of the arguments --url --stack --pulumi-stack is required" in one_line_error(
        capsys, prog
    )
