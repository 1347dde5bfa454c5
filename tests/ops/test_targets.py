"""From --url, --stack or --pulumi-stack (and the auth options) to a base URL and credentials."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from ops.auth import BearerToken, SigV4
from ops.cli import add_target_arguments
from ops.errors import CannotRun
from ops.targets import resolve_target
from tests.ops.conftest import Recorder, pulumi_script


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    return parser.parse_args(argv)


def test_a_url_is_used_as_given_without_a_trailing_slash() -> None:
    target = resolve_target(parse("--url", "https://api.example.com/prod/"))
    assert (target.kind, target.base_url, target.auth.name) == (
        "url",
        "https://api.example.com/prod",
        "none",
    )
    assert target.client(5).url("/health") == "https://api.example.com/prod/health"


def test_an_id_token_is_sent_as_a_bearer_token(recorder: Recorder) -> None:
    target = resolve_target(parse("--url", recorder.url, "--id-token", "tok-123"))
    with target.client(5) as client:
        client.request("GET", "/health")
    assert recorder.requests[0]["headers"]["authorization"] == "Bearer tok-123"
    assert "tok-123" not in repr(target)


def test_sigv4_takes_the_region_from_an_execute_api_host(aws: boto3.Session) -> None:
    target = resolve_target(
        parse("--url", "https://abc123.execute-api.eu-west-3.amazonaws.com/", "--sigv4"),
        session_factory=lambda **_: aws,
    )
    assert isinstance(target.auth, SigV4) and target.auth.region == "eu-west-3"


def test_sigv4_elsewhere_takes_the_configured_region(aws: boto3.Session) -> None:
    target = resolve_target(
        parse("--url", "https://api.example.com", "--sigv4"), session_factory=lambda **_: aws
    )
    assert isinstance(target.auth, SigV4) and target.auth.region == "us-east-1"


def test_sigv4_and_a_token_exclude_each_other() -> None:
    with pytest.raises(CannotRun, match="exclude each other"):
        resolve_target(parse("--url", "http://x", "--sigv4", "--id-token", "t"))


def test_a_public_pulumi_stack_needs_no_token(
    fake_bin: Callable[[str, str], Path], tmp_path: Path
) -> None:
    url = "https://sklearn-inference-dev-abc-uc.a.run.app"
    fake_bin(
        "pulumi", pulumi_script({"url": url, "public": True}, stack="dev", record=tmp_path / "c")
    )
    target = resolve_target(parse("--pulumi-stack", "dev"))
    assert (target.kind, target.name, target.base_url, target.auth.name) == (
        "pulumi-stack",
        "dev",
        url,
        "none",
    )


def models_output(*names: str) -> dict[str, Any]:
    """A Pulumi stack's outputs: each model's function under `models`, the primary's (iris)
    at the top level too."""
    models = {name: {"url": f"https://fn-{name}.a.run.app"} for name in names}
    return {"public": True, "models": models} | models.get("iris", {})


@pytest.mark.parametrize("served", [("iris",), ("wine",)], ids=["primary", "another"])
def test_a_pulumi_stack_of_one_model_is_checked_without_model(
    fake_bin: Callable[[str, str], Path], tmp_path: Path, served: tuple[str, ...]
) -> None:
    fake_bin("pulumi", pulumi_script(models_output(*served), stack="prod", record=tmp_path / "c"))
    target = resolve_target(parse("--pulumi-stack", "prod"))
    assert (target.model, target.base_url) == (served[0], f"https://fn-{served[0]}.a.run.app")


@pytest.mark.parametrize("model", ["iris", "wine"])
def test_model_picks_its_function_from_the_models_output(
    fake_bin: Callable[[str, str], Path], tmp_path: Path, model: str
) -> None:
    outputs = models_output("iris", "wine")
    fake_bin("pulumi", pulumi_script(outputs, stack="prod", record=tmp_path / "c"))
    target = resolve_target(parse("--pulumi-stack", "prod", "--model", model))
    assert (target.model, target.base_url) == (model, f"https://fn-{model}.a.run.app")


@pytest.mark.parametrize(
    ("served", "argv", "message"),
    [
        (
            ("iris", "wine"),
            (),
            "Pulumi stack prod serves several models (iris, wine): choose one with --model NAME",
        ),
        (
            ("iris",),
            ("--model", "wine"),
            "Pulumi stack prod serves no model 'wine'; it serves iris",
        ),
    ],
)
def test_a_pulumi_stack_refuses_a_model_it_cannot_pick(
    fake_bin: Callable[[str, str], Path],
    tmp_path: Path,
    served: tuple[str, ...],
    argv: tuple[str, ...],
    message: str,
) -> None:
    fake_bin("pulumi", pulumi_script(models_output(*served), stack="prod", record=tmp_path / "c"))
    with pytest.raises(CannotRun) as raised:
        resolve_target(parse("--pulumi-stack", "prod", *argv))
    assert str(raised.value) == message


# gcloud as it behaves: --audiences works for a service account and is refused for a user.
SERVICE_ACCOUNT_GCLOUD = 'case "$*" in\n  "auth print-identity-token --audiences="*) echo "sa-token-for-${3#--audiences=}";;\n  *) exit 2;;\nesac\n'
USER_GCLOUD = (
    'if [ "$*" = "auth print-identity-token" ]; then echo user-token; exit 0; fi\n'
    "echo 'ERROR: (gcloud.auth.print-identity-token) Invalid account Type for `--audiences`. "
    "Requires valid service account.' >&2\nexit 1\n"
)


@pytest.mark.parametrize(
    ("gcloud", "token"),
    [(SERVICE_ACCOUNT_GCLOUD, "sa-token-for-{url}"), (USER_GCLOUD, "user-token")],
    ids=["service-account", "user-account"],
)
def test_a_private_pulumi_stack_takes_gcloud_identity_token(
    fake_bin: Callable[[str, str], Path],
    tmp_path: Path,
    recorder: Recorder,
    gcloud: str,
    token: str,
) -> None:
    fake_bin(
        "pulumi",
        pulumi_script({"url": recorder.url, "public": False}, stack="dev", record=tmp_path / "c"),
    )
    fake_bin("gcloud", gcloud)
    target = resolve_target(parse("--pulumi-stack", "dev"))
    expected = token.format(url=recorder.url)
    assert target.auth == BearerToken(expected)
    with target.client(5) as client:
        client.request("GET", "/health")
    assert recorder.requests[0]["headers"]["authorization"] == f"Bearer {expected}"


def test_an_explicit_token_wins_over_gcloud(
    fake_bin: Callable[[str, str], Path], tmp_path: Path
) -> None:
    fake_bin(
        "pulumi",
        pulumi_script(
            {"url": "https://f.run.app", "public": False}, stack="dev", record=tmp_path / "c"
        ),
    )
    target = resolve_target(parse("--pulumi-stack", "dev", "--id-token", "mine"))
    assert target.auth == BearerToken("mine")  # no gcloud on PATH, and none was needed


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (
            {"public": True},
            "Pulumi stack dev has no 'url' output (outputs: public); has it been deployed?",
        ),
        ({"url": "not a url", "public": True}, "not an http(s) URL: 'not a url'"),
    ],
)
def test_a_pulumi_stack_without_a_usable_url(
    fake_bin: Callable[[str, str], Path], tmp_path: Path, outputs: dict[str, Any], message: str
) -> None:
    fake_bin("pulumi", pulumi_script(outputs, stack="dev", record=tmp_path / "c"))
    with pytest.raises(CannotRun) as raised:
        resolve_target(parse("--pulumi-stack", "dev"))
    assert str(raised.value) == message


def test_pulumi_output_that_is_not_json(fake_bin: Callable[[str, str], Path]) -> None:
    fake_bin("pulumi", "echo 'warning: A new version of Pulumi is available'\n")
    with pytest.raises(CannotRun, match="printed no JSON"):
        resolve_target(parse("--pulumi-stack", "dev"))
