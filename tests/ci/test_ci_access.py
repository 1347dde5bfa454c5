"""The GitHub Actions roles (stacks/ci_access.py): exact trusts; the deploy role may only assume
the CDK roles, the verify role only read the inference stacks and call their APIs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

import app as cdk_entry
from ops import verify
from ops.targets import resolve_target
from stacks.ci_access import (
    API_STAGE,
    STACK_NAME,
    CiAccessError,
    CiAccessSettings,
    GitHubDeployAccessStack,
    ci_access_settings,
)
from stacks.stack import InferenceStack
from tests.ops.fake_aws import REGION, deploy

REPO_ROOT = Path(__file__).resolve().parents[2]
# CDK's feature flags from cdk.json, none of its settings: these tests pin upstream defaults.
CDK_CONTEXT: dict[str, Any] = {
    key: value
    for key, value in json.loads((REPO_ROOT / "cdk.json").read_text())["context"].items()
    if key.startswith("@")
}
REPOSITORY = "octo-org/octo-repo"
ISSUER = "token.actions.githubusercontent.com"
STACKS = ("SklearnInference-dev", "SklearnInference-prod")  # stacks/settings.py's defaults
ROLE_OUTPUTS = ("DeployRoleArn", "VerifyRoleArn")

pytestmark = pytest.mark.slow


def _bootstrap_role_arn(qualifier: str, name: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":iam::",
                {"Ref": "AWS::AccountId"},
                f":role/cdk-{qualifier}-{name}-role-",
                {"Ref": "AWS::AccountId"},
                "-",
                {"Ref": "AWS::Region"},
            ],
        ]
    }


def _arn(service: str, resource: str) -> dict[str, Any]:
    """An ARN in this stack's partition, region and account, as CDK renders it."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":{service}:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource}",
            ],
        ]
    }


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[App, Path]:
    """The real app (app.build, cdk-nag included) with the GitHub context, synthesized once."""
    outdir = tmp_path_factory.mktemp("cdk-ci-access")
    app = App(context={**CDK_CONTEXT, "github_repository": REPOSITORY}, outdir=str(outdir))
    cdk_entry.build(app, environ={})
    app.synth()  # raises if cdk-nag reports an unacknowledged finding
    return app, outdir


@pytest.fixture(scope="module")
def template(synthesized: tuple[App, Path]) -> dict[str, Any]:
    _, outdir = synthesized
    return json.loads((outdir / f"{STACK_NAME}.template.json").read_text())


def _of_type(template: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == type_]


def _role_id(template: dict[str, Any], output: str) -> str:
    """The logical id of the role an output names (never a hashed id typed by hand)."""
    role_id, attribute = template["Outputs"][output]["Value"]["Fn::GetAtt"]
    assert attribute == "Arn" and template["Resources"][role_id]["Type"] == "AWS::IAM::Role"
    return str(role_id)


def _statements(template: dict[str, Any], output: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to the role an output names."""
    role = {"Ref": _role_id(template, output)}
    policies = [
        p for p in _of_type(template, "AWS::IAM::Policy") if role in p["Properties"]["Roles"]
    ]
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_default_app_has_no_deploy_access_stack():
    # The snapshots of the inference stacks and `make synth` stay as they were.
    app = App(context=CDK_CONTEXT)
    cdk_entry.build(app, environ={})
    stacks = [c.node.id for c in app.node.children if isinstance(c, Stack)]
    assert stacks == ["SklearnInference-dev"]


@pytest.mark.parametrize("output", ROLE_OUTPUTS)
def test_each_role_trusts_only_this_repository_in_its_environments(template, output):
    # The verify role is assumed from the OIDC token itself, never chained through the deploy
    # role: its trust names the GitHub provider and nothing else.
    role = template["Resources"][_role_id(template, output)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    (provider_id,) = [
        k for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::OIDCProvider"
    ]
    assert statement == {
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Effect": "Allow",
        "Principal": {"Federated": {"Ref": provider_id}},
        "Condition": {
            "StringEquals": {
                f"{ISSUER}:aud": "sts.amazonaws.com",
                f"{ISSUER}:sub": [
                    f"repo:{REPOSITORY}:environment:dev",
                    f"repo:{REPOSITORY}:environment:prod",
                ],
            }
        },
    }


@pytest.mark.parametrize("output", ROLE_OUTPUTS)
def test_each_role_has_only_the_policy_this_stack_writes(template, output):
    properties = template["Resources"][_role_id(template, output)]["Properties"]
    assert "ManagedPolicyArns" not in properties
    assert "Policies" not in properties
    assert len(_of_type(template, "AWS::IAM::Role")) == 2


def test_deploy_role_may_only_assume_the_four_cdk_bootstrap_roles(template):
    (statement,) = _statements(template, "DeployRoleArn")
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Resource"] == [
        _bootstrap_role_arn("hnb659fds", name)
        for name in ("deploy", "file-publishing", "image-publishing", "lookup")
    ]


def test_oidc_provider_accepts_the_sts_audience_and_outlives_the_stack(template):
    (provider,) = _of_type(template, "AWS::IAM::OIDCProvider")
    assert provider["Properties"]["Url"] == f"https://{ISSUER}"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]
    assert provider["DeletionPolicy"] == "Retain"


def test_verify_role_may_only_read_the_inference_stacks_and_call_their_apis(template):
    assert _statements(template, "VerifyRoleArn") == [
        {
            "Sid": "ReadInferenceStacks",
            "Action": "cloudformation:DescribeStacks",
            "Effect": "Allow",
            "Resource": [_arn("cloudformation", f"stack/{name}/*") for name in STACKS],
        },
        {
            "Sid": "ReadInferenceFunctions",
            "Action": [
                "lambda:GetAlias",
                "lambda:ListProvisionedConcurrencyConfigs",
                "lambda:ListVersionsByFunction",
            ],
            "Effect": "Allow",
            "Resource": _arn("lambda", "function:*"),
            "Condition": {
                "StringEquals": {"aws:ResourceTag/aws:cloudformation:stack-name": list(STACKS)}
            },
        },
        {
            "Sid": "ReadAlarms",
            "Action": "cloudwatch:DescribeAlarms",
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            "Sid": "CallInferenceApis",
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": _arn("execute-api", "*/$default/*"),
        },
    ]


def test_verify_role_names_the_stack_and_the_stage_the_inference_app_builds(synthesized, template):
    # The dev inference stack of the same app: the verify role may read it by name, and its
    # API's only stage is the one the role may call.
    app, outdir = synthesized
    (inference,) = [c for c in app.node.children if isinstance(c, InferenceStack)]
    (read_stacks,) = [
        s for s in _statements(template, "VerifyRoleArn") if s["Sid"] == "ReadInferenceStacks"
    ]
    assert _arn("cloudformation", f"stack/{inference.stack_name}/*") in read_stacks["Resource"]
    dev = json.loads((outdir / f"{inference.artifact_id}.template.json").read_text())
    stages = _of_type(dev, "AWS::ApiGatewayV2::Stage")
    assert [s["Properties"]["StageName"] for s in stages] == [API_STAGE]


def test_verify_role_grants_exactly_the_aws_calls_ops_verify_makes(template, monkeypatch):
    # GIVEN an auth=iam stack in moto (tests/ops/fake_aws.py), every AWS call recorded
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    calls: set[str] = set()
    with mock_aws():
        deployment = deploy(
            boto3.Session(region_name=REGION),
            stack_name="SklearnInference-prod",
            api_url="https://api.invalid/",
            api_auth="iam",
        )
        deployment.session.events.register(
            # before-parameter-build.<service>.<Operation>: for these services the IAM action
            "before-parameter-build",
            lambda event_name, **_: calls.add(":".join(event_name.split(".")[1:])),
        )
        # WHEN verify resolves the stack and runs its stack checks (tests/ops covers the HTTP ones)
        args = verify.build_parser().parse_args(["--stack", deployment.stack_name])
        target = resolve_target(args, session_factory=deployment.session_factory)
        failed = [r.name for r in verify.stack_checks(target) if not r.passed]
    # THEN it signed its requests (execute-api:Invoke) and called nothing the role does not grant
    assert failed == []
    assert target.auth.name == "sigv4"
    granted = {
        action
        for statement in _statements(template, "VerifyRoleArn")
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    assert calls == granted - {"execute-api:Invoke"}


@pytest.mark.parametrize("output", ROLE_OUTPUTS)
def test_role_arns_are_outputs(template, output):
    assert template["Outputs"][output]["Value"] == {
        "Fn::GetAtt": [_role_id(template, output), "Arn"]
    }
    variable = {"DeployRoleArn": "AWS_DEPLOY_ROLE_ARN", "VerifyRoleArn": "AWS_VERIFY_ROLE_ARN"}
    assert template["Outputs"][output]["Description"].startswith(
        f"GitHub variable {variable[output]} "
    )


def test_cdk_nag_and_cfn_lint_find_nothing(synthesized):
    app, outdir = synthesized
    assert AwsSolutionsChecks().validate_scope(app).violations == []
    text = (outdir / f"{STACK_NAME}.template.json").read_text()
    assert [f"{m.rule.id} {m.message}" for m in lint(text, config=ManualArgs())] == []


def test_existing_provider_custom_qualifier_and_one_environment():
    # GIVEN an account that already trusts GitHub, a custom bootstrap qualifier, a prod-only
    # account
    provider_arn = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
    settings = ci_access_settings(
        {
            "github_repository": "octo-org@59/octo-repo@1296",
            "github_environments": "prod",
            "github_oidc_provider_arn": provider_arn,
            "@aws-cdk/core:bootstrapQualifier": "team1",
        }
    )
    assert settings is not None
    stack = GitHubDeployAccessStack(App(), "Access", settings=settings)
    template = Template.from_stack(stack)
    # THEN no second provider; both trusts name the existing one and the prod subject only
    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    assert len(template.find_resources("AWS::IAM::Role")) == 2
    template.all_resources_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Principal": {"Federated": provider_arn},
                            "Condition": {
                                "StringEquals": {
                                    f"{ISSUER}:aud": "sts.amazonaws.com",
                                    f"{ISSUER}:sub": [
                                        "repo:octo-org@59/octo-repo@1296:environment:prod"
                                    ],
                                }
                            },
                        }
                    )
                ]
            }
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {"Resource": Match.array_with([_bootstrap_role_arn("team1", "deploy")])}
                    )
                ]
            }
        },
    )
    # AND the verify role reads only prod's stack
    assert settings.inference_stacks == ("SklearnInference-prod",)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "ReadInferenceStacks",
                                "Resource": _arn("cloudformation", "stack/SklearnInference-prod/*"),
                            }
                        )
                    ]
                )
            }
        },
    )


def test_inference_stacks_are_each_environments_stack_name_from_the_deploy_context():
    # GIVEN cdk.json renaming prod's stack, as a fork might
    context = {
        **CDK_CONTEXT,
        "github_repository": REPOSITORY,
        "environments": {"prod": {"stack_name": "Iris-prod"}},
    }
    settings = ci_access_settings(context)
    assert settings is not None
    # THEN the verify role reads the stacks a deploy of each environment would create
    assert settings.inference_stacks == ("SklearnInference-dev", "Iris-prod")


def test_a_github_environment_that_is_not_a_deploy_environment_is_refused():
    # aws-deploy.yml deploys GitHub environment X as `make deploy-aws ENV=X`.
    with pytest.raises(CiAccessError, match="'staging'"):
        ci_access_settings({"github_repository": REPOSITORY, "github_environments": "staging"})


def test_settings_are_absent_without_a_repository():
    assert ci_access_settings({}) is None
    assert ci_access_settings({"github_repository": " "}) is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"repository": "octo-org"},  # no repository name
        {"repository": "octo-org/octo-repo/extra"},
        {"repository": "*/octo-repo"},  # a wildcard would trust other owners
        {"repository": "octo-org/*"},
        {"environments": ()},
        {"environments": ("prod:ref:refs/heads/main",)},  # would forge a longer sub claim
        {"oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/example.com"},
        {"qualifier": "Not-Valid"},
        {"inference_stacks": ()},
        {"inference_stacks": ("SklearnInference-*",)},  # would widen the verify role
        {"inference_stacks": ("arn:aws:cloudformation:x",)},
    ],
)
def test_settings_reject_a_trust_that_could_admit_others(overrides):
    values: dict[str, Any] = {"repository": REPOSITORY, "inference_stacks": STACKS, **overrides}
    with pytest.raises(CiAccessError):
        CiAccessSettings(**values)


def test_settings_accept_the_defaults():
    settings = CiAccessSettings(repository=REPOSITORY, inference_stacks=STACKS)
    assert settings.subjects == [
        f"repo:{REPOSITORY}:environment:dev",
        f"repo:{REPOSITORY}:environment:prod",
    ]
