"""Whole-stack checks: cdk-nag, cfn-lint, stack properties, the image asset's hash. The
snapshots are in test_aws_snapshot.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from stacks.function import InferenceFunction, ModelImage
from stacks.settings import build_settings
from tests.aws.conftest import FEATURE_FLAGS

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_cfn_lint_finds_no_errors_or_warnings(every_app):
    # W3005: CDK adds DependsOn on the role next to a GetAtt of it (redundant, harmless).
    matches = lint(
        _template_text(every_app),
        config=ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=["W3005"]),
    )
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def _template_text(app) -> str:
    return (app.outdir / f"{app.settings.stack_name}.template.json").read_text()


# Every finding the stacks acknowledge, per variant of the tests' own (a live app's depend on
# the settings in force: for those the test checks that none is stale or missing).
XRAY = "AwsSolutions-IAM5[Resource::*]"
CODEDEPLOY_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSCodeDeployRoleForLambdaLimited]"
)
HOOK_INVOKES_VERSIONS = "AwsSolutions-IAM5[Resource::<InferenceFunction05D34FA4.Arn>:*]"
CODEDEPLOY_INVOKES_HOOK = (
    "AwsSolutions-IAM5[Resource::<ReleasePreTrafficHookFunction3211D8C7.Arn>:*]"
)
HOOK = {HOOK_INVOKES_VERSIONS, CODEDEPLOY_INVOKES_HOOK}
EXPECTED_ACKNOWLEDGEMENTS = {
    "dev": {"AwsSolutions-APIG4", XRAY, CODEDEPLOY_ROLE, *HOOK},
    "prod": {XRAY, CODEDEPLOY_ROLE, *HOOK},  # IAM auth: no APIG4
    # JWT auth, tracing off; CORS: the preflight route cannot be authorized (APIG4)
    "dev-options": {"AwsSolutions-APIG4", CODEDEPLOY_ROLE, *HOOK},
    "prod-options": {"AwsSolutions-APIG4", XRAY, CODEDEPLOY_ROLE},  # no pre-traffic hook
}


def test_cdk_nag_reports_nothing_unacknowledged(every_app):
    # Synthesis already fails on an unacknowledged error; validate_scope also returns warnings.
    report = AwsSolutionsChecks().validate_scope(every_app.app)
    assert [v.rule_name for v in report.violations] == []
    assert report.success
    # Nothing but the warning the stack means to give: a store model not promoted yet
    written = json.loads((every_app.outdir / "validation-report.json").read_text())
    assert [
        (plugin["pluginName"], violation["severity"], violation["description"].split(":")[0])
        for plugin in written["pluginReports"]
        for violation in plugin["violations"]
    ] == [
        ("Construct Annotations", "warning", f'model {entry.name} (source = "store")')
        for entry in every_app.models.models
        if entry.store
    ]


def test_acknowledgements_match_real_findings_and_carry_reasons(
    every_app, context_of, monkeypatch, build_app
):
    # GIVEN the app built with every acknowledgement recorded instead of applied
    recorded: list[tuple[str, str, str]] = []
    real_of = Validations.of

    class Recorder:
        def __init__(self, scope):
            self._scope, self._real = scope, real_of(scope)

        def acknowledge(self, *rules):
            recorded.extend((self._scope.node.path, r.id, r.reason) for r in rules)

        def __getattr__(self, name):
            return getattr(self._real, name)

    monkeypatch.setattr(Validations, "of", Recorder)
    app = App(context=context_of(every_app.name))
    build_app(app)
    # WHEN cdk-nag checks it with nothing acknowledged
    findings = {
        (v.rule_name, resource.construct_path)
        for v in AwsSolutionsChecks().validate_scope(app).violations
        for resource in v.violating_resources
    }
    # THEN each finding is acknowledged on its construct or an ancestor, and no
    # acknowledgement is stale (names a rule that does not fire there)
    acknowledged = {(rule, scope) for scope, rule, _ in recorded}
    for rule, path in findings:
        assert any(rule == r and path.startswith(scope + "/") for r, scope in acknowledged), (
            f"{rule} at {path} is not acknowledged"
        )
    for rule, scope in acknowledged:
        assert any(rule == r and p.startswith(scope + "/") for r, p in findings), (
            f"stale acknowledgement {rule} on {scope}"
        )
    if every_app.name in EXPECTED_ACKNOWLEDGEMENTS:
        assert {rule for rule, _ in acknowledged} == EXPECTED_ACKNOWLEDGEMENTS[every_app.name]
    for _, rule, reason in recorded:
        assert len(reason) >= 80, f"{rule}: a reviewer needs a reason, not {reason!r}"


def test_cdk_nag_is_registered_and_fails_synthesis_on_a_finding(tmp_path, context_of, build_app):
    # GIVEN the real app plus one topic that breaks AwsSolutions-SNS2/SNS3
    app = App(context=context_of("dev"), outdir=str(tmp_path))
    stack = build_app(app)
    sns.Topic(stack, "Unencrypted")
    # WHEN it synthesizes THEN cdk-nag (registered by app.build) stops it, naming the rule
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    assert "AwsSolutions-SNS3" in str(failure.value)
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-SNS3" in report
    assert "Unencrypted" in report


def test_prod_is_termination_protected_and_dev_is_not(dev, prod):
    assert prod.artifact["properties"]["terminationProtection"] is True
    assert dev.artifact["properties"].get("terminationProtection", False) is False


def test_stack_is_environment_agnostic_without_cdk_default_env(dev):
    assert dev.artifact["environment"] == "aws://unknown-account/unknown-region"


def test_stack_uses_cdk_default_account_and_region_when_set(context_of, build_app):
    app = App(context=context_of("dev"))
    stack = build_app(
        app, environ={"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}
    )
    assert (stack.account, stack.region) == ("123456789012", "eu-west-1")


def test_image_asset_carries_only_the_handler_and_model(dev):
    (image,) = dev.assets["dockerImages"].values()
    staged = dev.outdir / image["source"]["directory"]
    top_level = {p.name for p in staged.iterdir()}
    assert {"Dockerfile", "handler"} <= top_level
    assert top_level <= {"Dockerfile", ".dockerignore", "handler", "model"}
    assert not list(staged.rglob("__pycache__"))


# The image hash (and with it the function version) must move with the handler and the model,
# and with nothing else.
def _image_tag(root: Path, context: dict) -> str:
    app = App(context=context)
    stack = Stack(app, "Scratch")
    InferenceFunction(
        stack, "Inference", settings=build_settings({"env": "dev"}), image=ModelImage(root)
    )
    (image,) = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    return image["Properties"]["Code"]["ImageUri"]["Fn::Sub"].rsplit(":", 1)[1]


def test_image_hash_changes_with_the_handler_or_model_only(tmp_path, context_of):
    context = context_of("dev")
    # GIVEN a copy of the build context with a test and an infrastructure file beside it
    root = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "handler", root / "handler", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy(REPO_ROOT / name, root / name)
    (root / "model" / "artifacts").mkdir(parents=True)
    (root / "model" / "artifacts" / "manifest.json").write_text("{}")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("x = 1\n")
    (root / "stacks").mkdir()
    (root / "stacks" / "stack.py").write_text("y = 1\n")
    baseline = _image_tag(root, context)

    # Tests, infrastructure code and caches are outside the image: same hash.
    (root / "tests" / "test_x.py").write_text("x = 2\n")
    (root / "stacks" / "stack.py").write_text("y = 2\n")
    (root / "handler" / "__pycache__").mkdir(exist_ok=True)
    (root / "handler" / "__pycache__" / "settings.cpython-311.pyc").write_bytes(b"\0")
    assert _image_tag(root, context) == baseline

    # The handler and the model are the image: new hash each time.
    with (root / "handler" / "settings.py").open("a") as handle:
        handle.write("\n# changed\n")
    after_handler = _image_tag(root, context)
    assert after_handler != baseline
    (root / "model" / "artifacts" / "manifest.json").write_text('{"changed": true}')
    assert _image_tag(root, context) not in (baseline, after_handler)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {"memory_mb": "99"},
            "error: -c memory_mb=99: memory_mb must be between 128 and 10240, got 99",
        ),
        (
            {"models_file": "models.toml"},
            "error: models.toml: [models.iris]: unknown setting memory_mbb; did you mean memory_mb?",
        ),
    ],
)
def test_a_settings_mistake_stops_cdk_synth_with_one_line_and_no_traceback(
    tmp_path, context, expected
):
    # GIVEN the app as `cdk synth` runs it, with a mistake in -c or a typo in models.toml
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "train.py").write_text("")
    (tmp_path / "models.toml").write_text('[models.iris]\npath = "model"\nmemory_mbb = 2048\n')
    context = {k: str(tmp_path / v) if k == "models_file" else v for k, v in context.items()}
    environment = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**FEATURE_FLAGS, **context}),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    # WHEN it runs THEN it stops with the line that says what to fix, and nothing else
    run = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=environment, capture_output=True, text=True
    )
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith(expected), run.stderr
