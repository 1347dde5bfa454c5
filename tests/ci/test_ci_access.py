"""The GitHub Actions deploy role (stacks/ci_access.py): exact trust, nothing but the CDK roles."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

import app as cdk_entry
from stacks.ci_access import (
    STACK_NAME,
    CiAccessError,
    CiAccessSettings,
    GitHubDeployAccessStack,
    ci_access_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
REPOSITORY = "octo-org/octo-repo"
ISSUER = "token.actions.githubusercontent.com"

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


def test_default_app_has_no_deploy_access_stack():
    # The snapshots of the inference stacks and `make synth` stay as they were.
    app = App(context=CDK_CONTEXT)
    cdk_entry.build(app, environ={})
    stacks = [c.node.id for c in app.node.children if isinstance(c, Stack)]
    assert stacks == ["SklearnInference-dev"]


def test_role_trusts_only_this_repository_in_its_environments(template):
    (role,) = _of_type(template, "AWS::IAM::Role")
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


def test_role_may_only_assume_the_four_cdk_bootstrap_roles(template):
    (role,) = _of_type(template, "AWS::IAM::Role")
    assert "ManagedPolicyArns" not in role["Properties"]
    assert "Policies" not in role["Properties"]
    (policy,) = _of_type(template, "AWS::IAM::Policy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
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


def test_deploy_role_arn_is_an_output(template):
    (role_id,) = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"]
    assert template["Outputs"]["DeployRoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}


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
    # THEN no second provider; the trust names the existing one and the prod subject only
    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    template.has_resource_properties(
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
    ],
)
def test_settings_reject_a_trust_that_could_admit_others(overrides):
    values: dict[str, Any] = {"repository": REPOSITORY, **overrides}
    with pytest.raises(CiAccessError):
        CiAccessSettings(**values)
