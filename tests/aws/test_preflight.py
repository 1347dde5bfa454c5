"""ops.preflight against moto (STS, SSM, CloudFormation, ECR) and botocore's Stubber for Lambda.

moto 5.2 does not implement Lambda's GetAccountSettings, so the Lambda client is a real boto3
client with a Stubber: it still checks every request and response against the service model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.cloudformation.models import cloudformation_backends

from model import catalog
from ops import preflight
from stacks.settings import build_settings
from tests.aws.conftest import FEATURE_FLAGS

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
PROD = build_settings({"env": "prod"})
DEV = build_settings({"env": "dev"})


@pytest.fixture(autouse=True)
def upstream_settings(monkeypatch: pytest.MonkeyPatch, reference_fork: Path) -> None:
    """preflight as `make preflight-aws` runs it, but reading upstream defaults (cdk.json's
    feature flags only) and the reference model alone, not this repository's own files."""
    monkeypatch.setattr(preflight, "CDK_CONTEXT", FEATURE_FLAGS)
    monkeypatch.setattr(catalog, "DEFAULT_FILE", reference_fork)


def _limits(quota: int, unreserved: int) -> dict[str, Any]:
    return {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": quota,
            "UnreservedConcurrentExecutions": unreserved,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
    }


class Account:
    """A mocked account and region; `lambda_` is the Stubber of the Lambda client."""

    def __init__(self) -> None:
        session = boto3.Session(region_name=REGION)
        lambda_client = session.client("lambda")
        self.lambda_ = Stubber(lambda_client)
        self.lambda_.activate()
        self.clients = preflight.Clients(
            sts=session.client("sts"),
            ssm=session.client("ssm"),
            cloudformation=session.client("cloudformation"),
            lambda_=lambda_client,
            ecr=session.client("ecr"),
            region=REGION,
        )

    def bootstrap(self, version: int = 21) -> None:
        self.clients.ssm.put_parameter(
            Name="/cdk-bootstrap/hnb659fds/version", Value=str(version), Type="String"
        )

    def quota(self, quota: int = 1000, unreserved: int = 1000) -> None:
        self.lambda_.add_response("get_account_settings", _limits(quota, unreserved), {})

    def stack(
        self,
        name: str,
        status: str | None = None,
        function: str | None = None,
        outputs: dict[str, str] | None = None,
    ) -> None:
        outputs = {**({"FunctionName": function} if function else {}), **(outputs or {})}
        template = {
            "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
            **({"Outputs": {k: {"Value": v} for k, v in outputs.items()}} if outputs else {}),
        }
        self.clients.cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
        if status:
            backend = cloudformation_backends[ACCOUNT][REGION]
            (found,) = [s for s in backend.stacks.values() if s.name == name]
            found.status = status

    def run(self, settings=PROD, models=None) -> dict[str, preflight.Check]:
        _, checks = preflight.run(settings, self.clients, "hnb659fds", models)
        self.lambda_.assert_no_pending_responses()
        return {check.name: check for check in checks}


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield Account()


def test_a_ready_account_passes_every_check(account):
    account.bootstrap()
    account.quota()
    checks = account.run()
    assert all(check.ok for check in checks.values()), checks
    assert set(checks) == {"bootstrap", "stack", "concurrency"}
    assert "creates it" in checks["stack"].detail
    assert "reserved_concurrency 20 fits" in checks["concurrency"].detail


def test_a_new_account_with_a_quota_of_10_is_told_before_cloudformation_fails(account):
    account.bootstrap()
    account.quota(quota=10, unreserved=10)
    check = account.run()["concurrency"]
    assert not check.ok
    assert "New accounts start at 10" in check.detail
    # 20 reserved + the 100 Lambda keeps unreserved
    assert "quota of at least 120 (Service Quotas code L-B99A9384)" in check.detail
    assert "-c reserved_concurrency=none" in check.detail


def test_dev_asks_for_no_concurrency_and_passes_in_a_new_account(account):
    account.bootstrap()
    account.quota(quota=10, unreserved=10)
    assert account.run(DEV)["concurrency"].ok


def test_unreserved_autoscaling_needs_its_maximum_from_the_pool(account):
    account.bootstrap()
    account.quota(quota=10, unreserved=10)
    settings = build_settings({"env": "prod", "reserved_concurrency": "none"})
    check = account.run(settings)["concurrency"]
    assert not check.ok
    assert "provisioned concurrency up to autoscaling_max 4" in check.detail


def test_a_redeploy_counts_the_reservation_the_function_already_holds(account):
    # Others reserve 880 of 1000 and this function 20: 100 unreserved, exactly the floor
    account.bootstrap()
    account.stack("SklearnInference-prod", function="inference-fn")
    account.quota(quota=1000, unreserved=100)
    account.lambda_.add_response(
        "get_function_concurrency",
        {"ReservedConcurrentExecutions": 20},
        {"FunctionName": "inference-fn"},
    )
    assert account.run()["concurrency"].ok


def test_several_models_need_the_sum_of_their_concurrency(account):
    # GIVEN prod serving two models: 20 reserved each, 40 in all
    account.bootstrap()
    account.quota(quota=1000, unreserved=130)
    check = account.run(PROD, models={"iris": PROD, "wine": PROD})["concurrency"]
    # THEN 30 above the floor is not enough, though each model alone would fit
    assert not check.ok
    assert "needs reserved_concurrency 20 (iris) + reserved_concurrency 20 (wine) = 40" in (
        check.detail
    )
    assert "quota of at least 1010" in check.detail  # 870 reserved by others + 40 + 100


def test_a_redeploy_of_several_models_counts_every_functions_reservation(account):
    account.bootstrap()
    account.stack(
        "SklearnInference-prod",
        outputs={"IrisFunctionName": "iris-fn", "WineFunctionName": "wine-fn"},
    )
    account.quota(quota=1000, unreserved=100)  # exactly the floor: only their own 40 is free
    for function in ("iris-fn", "wine-fn"):
        account.lambda_.add_response(
            "get_function_concurrency",
            {"ReservedConcurrentExecutions": 20},
            {"FunctionName": function},
        )
    assert account.run(PROD, models={"iris": PROD, "wine": PROD})["concurrency"].ok


def test_each_models_settings_come_from_models_toml(two_models):
    settings, models = preflight.settings_from("prod", [f"models_file={two_models}"])
    assert set(models) == {"iris", "wine"}
    assert (models["wine"].memory_mb, models["iris"].memory_mb) == (2048, settings.memory_mb)


def test_main_exits_2_on_an_invalid_model_setting(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "train.py").write_text("")
    declaration = tmp_path / "models.toml"
    declaration.write_text('[models.iris]\npath = "model"\nmemory_mb = 64\n')
    assert preflight.main(["--env", "dev", "-c", f"models_file={declaration}"]) == 2
    assert capsys.readouterr().err.startswith(
        "preflight: models.toml [models.iris] (dev): memory_mb"
    )


def test_missing_or_old_bootstrap_says_to_run_cdk_bootstrap(account):
    account.quota()
    check = account.run()["bootstrap"]
    assert not check.ok and "npx cdk bootstrap aws://<account>/eu-west-1" in check.detail


def test_old_bootstrap_is_refused(account):
    account.bootstrap(version=5)
    account.quota()
    check = account.run()["bootstrap"]
    assert not check.ok and "the template needs 6" in check.detail


@pytest.mark.parametrize(
    ("status", "fix"),
    [
        ("ROLLBACK_COMPLETE", "aws cloudformation delete-stack --stack-name SklearnInference-prod"),
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback"),
        ("UPDATE_IN_PROGRESS", "wait for it"),
    ],
)
def test_a_stack_cloudformation_cannot_update_is_reported_with_the_fix(account, status, fix):
    account.bootstrap()
    account.stack("SklearnInference-prod", status=status)
    account.quota()
    check = account.run()["stack"]
    assert not check.ok
    assert status in check.detail and fix in check.detail


def test_prebuilt_image_must_exist_in_ecr(account):
    account.bootstrap()
    account.clients.ecr.create_repository(repositoryName="inference")
    account.clients.ecr.put_image(
        repositoryName="inference",
        imageManifest='{"schemaVersion": 2}',
        imageManifestMediaType="application/vnd.oci.image.manifest.v1+json",
        imageTag="v1",
    )
    account.quota()
    present = build_settings({"env": "prod", "image_repository": "inference", "image_tag": "v1"})
    assert account.run(present)["image"].ok
    account.quota()
    missing = build_settings({"env": "prod", "image_repository": "inference", "image_tag": "v2"})
    check = account.run(missing)["image"]
    assert not check.ok and "inference:v2 not found in ECR" in check.detail


def test_prebuilt_image_from_another_region_is_refused(account):
    account.bootstrap()
    account.quota()
    settings = build_settings(
        {
            "env": "prod",
            "image_repository": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/inference",
            "image_tag": "v1",
        }
    )
    check = account.run(settings)["image"]
    assert not check.ok and "Lambda pulls images only from its own region" in check.detail


def test_a_caller_that_may_not_read_reads_through_the_bootstrap_lookup_role(account, monkeypatch):
    # GIVEN a CI deploy role: it may assume the CDK bootstrap roles and read nothing itself
    account.bootstrap()
    denied_ssm = boto3.client("ssm", region_name=REGION)
    stub = Stubber(denied_ssm)
    stub.add_client_error("get_parameter", service_error_code="AccessDeniedException")
    stub.activate()
    deploy_role = preflight.Clients(**{**account.clients.__dict__, "ssm": denied_ssm})
    lookup_lambda = Account().lambda_  # what the lookup role's session reads with
    lookup_lambda.add_response("get_account_settings", _limits(1000, 1000), {})
    real = preflight.Clients.from_session

    def lookup_clients(session):
        clients = real(session)
        return preflight.Clients(**{**clients.__dict__, "lambda_": lookup_lambda.client})

    monkeypatch.setattr(preflight.Clients, "from_session", lookup_clients)
    # WHEN it runs
    where, checks = preflight.run(PROD, deploy_role, "hnb659fds")
    # THEN every check read, as the lookup role
    lookup = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-lookup-role-{ACCOUNT}-{REGION}"
    assert where.endswith(f", reading as {lookup}")
    assert [(c.name, c.ok) for c in checks] == [
        ("bootstrap", True),
        ("stack", True),
        ("concurrency", True),
    ]
    stub.assert_no_pending_responses()


def test_what_cannot_be_read_is_unknown_and_does_not_stop_a_deploy(account, monkeypatch, capsys):
    # GIVEN credentials that may read neither SSM nor Lambda, nor assume the lookup role
    sts = boto3.client("sts", region_name=REGION)
    ssm = boto3.client("ssm", region_name=REGION)
    identity = {"UserId": "AIDA", "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ci"}
    with Stubber(sts) as sts_stub, Stubber(ssm) as ssm_stub:
        sts_stub.add_response("get_caller_identity", identity)
        sts_stub.add_client_error("assume_role", service_error_code="AccessDenied")
        for _ in range(2):  # the probe, then the bootstrap check
            ssm_stub.add_client_error("get_parameter", service_error_code="AccessDeniedException")
        account.lambda_.add_client_error(
            "get_account_settings", service_error_code="AccessDeniedException"
        )
        clients = preflight.Clients(**{**account.clients.__dict__, "sts": sts, "ssm": ssm})
        monkeypatch.setattr(preflight.Clients, "from_session", lambda session: clients)
        # WHEN the deploy runs it THEN nothing stops it, and the gaps are printed
        assert preflight.main(["--env", "prod", "--region", REGION]) == 0
    out = capsys.readouterr().out
    assert "  ?     bootstrap    cannot tell: " in out and "AccessDenied" in out
    assert "  ?     concurrency  cannot tell: " in out
    assert "  ok    stack" in out


def test_main_prints_each_check_and_exits_1_on_a_failure(account, monkeypatch, capsys):
    account.quota(quota=10, unreserved=10)  # and no bootstrap
    monkeypatch.setattr(preflight.Clients, "from_session", lambda session: account.clients)
    assert preflight.main(["--env", "prod", "--region", REGION]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"preflight SklearnInference-prod in {ACCOUNT} / {REGION} as arn:aws:")
    assert "  FAIL  bootstrap" in out and "  ok    stack" in out and "  FAIL  concurrency" in out


def test_main_applies_context_overrides_like_the_cdk_cli(account, monkeypatch, capsys):
    account.bootstrap()
    account.quota(quota=10, unreserved=10)
    monkeypatch.setattr(preflight.Clients, "from_session", lambda session: account.clients)
    args = ["--env", "prod", "-c", "reserved_concurrency=none", "-c", "autoscaling_min=none"]
    args += ["-c", "autoscaling_max=none", "--region", REGION]
    assert preflight.main(args) == 0, capsys.readouterr().out


def test_main_exits_2_on_invalid_settings(capsys):
    assert preflight.main(["--env", "prod", "-c", "reserved_concurrency=2"]) == 2
    assert "autoscaling_max (4) cannot exceed reserved_concurrency (2)" in capsys.readouterr().err


def test_main_exits_2_without_credentials(monkeypatch, tmp_path, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # AWS_REGION, as the CDK CLI reads it, is enough for a region
    monkeypatch.setenv("AWS_REGION", REGION)
    assert preflight.main(["--env", "dev"]) == 2
    assert "no usable credentials" in capsys.readouterr().err


def test_main_exits_2_without_a_region(monkeypatch, tmp_path, capsys):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert preflight.main(["--env", "dev"]) == 2
    assert "no region" in capsys.readouterr().err


@pytest.mark.slow
def test_bootstrap_version_is_what_the_synthesized_template_requires(prod):
    properties = prod.artifact["properties"]
    assert properties["requiresBootstrapStackVersion"] == preflight.MIN_BOOTSTRAP_VERSION
    assert properties["bootstrapStackVersionSsmParameter"] == "/cdk-bootstrap/hnb659fds/version"
